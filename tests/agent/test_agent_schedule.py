"""The agent's collection schedule: collectors due together make one sample."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec

from agent.runner import Agent
from agent.settings import AgentSettings
from agent.store import Store
from devicecare.contracts import Channel, CollectorConfig, CollectorName
from tests.support.agent_process import fake_device


def test_collectors_on_one_grid_share_a_sample_and_stamps_increase(tmp_path: Path) -> None:
    settings = AgentSettings(
        device_id="dev-schedule",
        root=str(fake_device(tmp_path / "device")),
        crash_dirs=[],
        collectors={
            CollectorName.BATTERY: CollectorConfig(interval_s=1),
            CollectorName.THERMAL: CollectorConfig(interval_s=1),
            CollectorName.CRASH: CollectorConfig(enabled=False),
            CollectorName.STORAGE: CollectorConfig(interval_s=2),
        },
    )
    store = Store(tmp_path / "agent.db", budget_bytes=1 << 20)
    store.set("consent", json.dumps({"telemetry": True}))
    agent = Agent(settings, store)
    # The loop wakes a little late each time, as a real one does; the storage collector
    # (every 2 s) must join the battery and thermal sample, not make one of its own.
    for mono in (100.0, 101.0004, 102.0009, 102.0011, 103.0015, 104.0003, 104.0004):
        agent.collect_due(mono)
    rows = store.db.execute(
        "SELECT ts, body FROM queue WHERE channel = ? ORDER BY id", (Channel.TELEMETRY,)
    ).fetchall()
    stamps = [ts for ts, _ in rows]
    assert len(rows) == 5
    assert stamps == sorted(set(stamps)), "sample timestamps strictly increase"
    with_storage = ["storage_total_bytes" in msgspec.json.decode(body) for _, body in rows]
    assert with_storage == [True, False, True, False, True]
    store.close()
