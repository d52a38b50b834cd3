"""`devicecare agent run` says what it is doing: with the default 15-minute upload interval
a silent agent looks broken, so consent, the first sample and every upload tick are logged."""

from __future__ import annotations

from pathlib import Path

import pytest

from devicecare.config import Settings
from devicecare.endpoints import mqtt_endpoint
from devstack import local
from tests.support.agent_process import AgentProcess, fake_device, write_config
from tests.support.polling import wait_for

pytestmark = pytest.mark.integration


def info_lines(agent: AgentProcess) -> list[str]:
    return [line for line in agent.log.read_text().splitlines() if " INFO " in line]


def test_the_running_agent_logs_consent_first_sample_and_next_upload(
    stack: Settings, device_id: str, tmp_path: Path
) -> None:
    local.provision_devices(stack, [device_id])
    config = write_config(
        tmp_path / "agent" / "agent.toml",
        device_id,
        mqtt_endpoint(stack, device_id),
        fake_device(tmp_path / "device"),
        upload_interval_s=900,
        log_level="INFO",
    )
    agent = AgentProcess(config, tmp_path / "agent.log")
    agent.start()
    try:
        wait_for(
            lambda: any("no telemetry consent" in line for line in info_lines(agent)),
            what="the agent saying it collects nothing without consent",
        )
        agent.cli("consent", "grant")
        wait_for(
            lambda: any("next upload in 15 minutes" in line for line in info_lines(agent)),
            what="the first upload tick",
        )
    finally:
        assert agent.stop() == 0
    lines = info_lines(agent)
    first = next(line for line in lines if "first sample collected" in line)
    assert "battery_pct" in first, first
    assert any("telemetry consent given" in line for line in lines)
    assert any("1 sample(s) queued; next upload in 15 minutes" in line for line in lines), lines
