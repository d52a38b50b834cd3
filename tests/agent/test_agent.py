"""The agent as a process against the real broker: outages, kill -9, config, offers, consent."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.consent import Consent, record
from devicecare.config import Settings, load_settings
from devicecare.contracts import (
    Channel,
    ConsentUpdate,
    DeviceConfig,
    Offer,
    OfferResponse,
    Severity,
    Status,
    TelemetryBatch,
    decode,
    encode,
    topics,
)
from devicecare.contracts.accounts import ServiceAccount
from devicecare.endpoints import database_url, mqtt_endpoint
from devstack import local
from tests.support.agent_process import AgentProcess, assert_exactly_once, fake_device, write_config
from tests.support.mqtt_clients import BrokerClient, connect
from tests.support.polling import wait_for

pytestmark = pytest.mark.integration

ACCEPTED = {"Success", "No matching subscribers"}


class Listener:
    """The server side of a device: everything it sent, decoded, by channel."""

    def __init__(self, settings: Settings, device_id: str) -> None:
        self.client: BrokerClient = connect(
            mqtt_endpoint(settings, ServiceAccount.INGEST),
            f"listener-{device_id}",
            session_expiry_s=600,
        )
        for channel in topics.UPLINK_CHANNELS:
            self.client.subscribe(topics.topic(device_id, channel))
        self.got: dict[Channel, list[object]] = {c: [] for c in Channel}

    def poll(self) -> dict[Channel, list[object]]:
        for message in self.client.drain(0.05):
            where = topics.parse(message.topic)
            self.got[where.channel].append(decode(where, message.payload))
        return self.got

    def batches(self) -> list[TelemetryBatch]:
        return [b for b in self.poll()[Channel.TELEMETRY] if isinstance(b, TelemetryBatch)]

    def statuses(self) -> list[Status]:
        return [s for s in self.poll()[Channel.STATUS] if isinstance(s, Status)]


@pytest.fixture
def device(tmp_path: Path) -> Path:
    return fake_device(tmp_path / "device")


def start_agent(
    settings: Settings, device_id: str, tmp_path: Path, device: Path, *, consent: bool = True
) -> AgentProcess:
    local.provision_devices(settings, [device_id])
    config = write_config(
        tmp_path / "agent" / "agent.toml", device_id, mqtt_endpoint(settings, device_id), device
    )
    agent = AgentProcess(config, tmp_path / "agent.log")
    if consent:
        record(agent.store(), device_id, Consent(telemetry=True, care_offers=True, email=False))
    agent.start()
    return agent


@pytest.fixture
def own_broker(stack: Settings) -> Iterator[Settings]:
    """A broker of its own (sharing the session's database) that a test may stop."""
    root = Path(tempfile.mkdtemp(prefix="devicecare-test-broker-"))
    root.chmod(0o755)
    settings = load_settings(state_dir=root, database_url=database_url(stack))
    local.up(settings)
    try:
        yield local.fill(settings)
    finally:
        local.down(settings, purge=True)
        shutil.rmtree(root, ignore_errors=True)


def test_stream_survives_a_broker_outage(
    own_broker: Settings, device_id: str, tmp_path: Path, device: Path
) -> None:
    listener = Listener(own_broker, device_id)
    agent = start_agent(own_broker, device_id, tmp_path, device)
    try:
        wait_for(lambda: len(listener.batches()) >= 3, what="batches before the outage")
        local.down(own_broker)
        time.sleep(4)  # the agent keeps collecting into its queue
        queued = agent.outbox().queued(Channel.TELEMETRY)
        assert queued >= 2, "samples taken while the broker was down are queued"
        local.up(own_broker)
        wait_for(lambda: agent.outbox().queued(Channel.TELEMETRY) < 2, what="the backlog to drain")
        time.sleep(1.5)
    finally:
        assert agent.stop() == 0, agent.log.read_text()[-3000:]
    time.sleep(0.5)
    arrived = assert_exactly_once(listener.batches(), agent)
    assert arrived >= 8
    listener.client.close()


def test_kill_9_loses_nothing_and_sends_no_other_batch_twice(
    stack: Settings, device_id: str, tmp_path: Path, device: Path
) -> None:
    listener = Listener(stack, device_id)
    agent = start_agent(stack, device_id, tmp_path, device)
    try:
        for round_ in range(3):
            wanted = 2 * (round_ + 1)
            wait_for(lambda n=wanted: len(listener.batches()) >= n, what="batches")
            time.sleep(0.3 * round_)
            agent.kill()
            agent.start()
        wait_for(lambda: len(listener.batches()) >= 8, what="batches after restarts")
    finally:
        assert agent.stop() == 0, agent.log.read_text()[-3000:]
    time.sleep(0.5)
    assert_exactly_once(listener.batches(), agent)
    listener.client.close()


def test_status_is_online_then_offline_and_names_missing_sensors(
    stack: Settings, device_id: str, tmp_path: Path, device: Path
) -> None:
    listener = Listener(stack, device_id)
    agent = start_agent(stack, device_id, tmp_path, device)
    wait_for(lambda: bool(listener.statuses()), what="the birth message")
    birth = listener.statuses()[0]
    assert birth.state == "online"
    wait_for(lambda: any(s.sensors_unavailable for s in listener.statuses()), what="sensors")
    missing = next(s.sensors_unavailable for s in listener.statuses() if s.sensors_unavailable)
    assert missing is not None
    assert "flash_wear_pct" in missing
    assert "battery_temp_c" not in missing
    assert agent.stop() == 0
    wait_for(lambda: listener.statuses()[-1].state == "offline", what="offline status")
    listener.client.close()


def test_an_invalid_remote_config_is_refused_and_the_last_good_one_stays(
    stack: Settings, device_id: str, tmp_path: Path, device: Path
) -> None:
    listener = Listener(stack, device_id)
    notifier = connect(mqtt_endpoint(stack, ServiceAccount.NOTIFIER), f"cfg-{device_id}")
    config_topic = topics.topic(device_id, Channel.CONFIG)
    agent = start_agent(stack, device_id, tmp_path, device)
    try:
        good = DeviceConfig(v=1, revision=7, upload_interval_s=10)
        assert notifier.publish(config_topic, encode(good), retain=True) in ACCEPTED
        wait_for(
            lambda: any(s.config_revision == 7 for s in listener.statuses()), what="revision 7"
        )
        bad = b'{"v": 1, "revision": 8, "collectors": {"gps": {"interval_s": 1}}}'
        assert notifier.publish(config_topic, bad, retain=True) in ACCEPTED
        wait_for(lambda: listener.statuses()[-1].config_error is not None, what="the refusal")
        refused = listener.statuses()[-1]
        assert refused.config_revision == 7, "the last good config stays in force"
        assert "gps" in (refused.config_error or "")
    finally:
        agent.stop()
        notifier.publish(config_topic, b"", retain=True)  # clear the retained config
        notifier.close()
        listener.client.close()


def test_offers_reach_only_their_device_and_answers_come_back(
    stack: Settings, device_id: str, tmp_path: Path, device: Path
) -> None:
    other = device_id + "-neighbour"
    local.provision_devices(stack, [other])
    listener = Listener(stack, device_id)
    notifier = connect(mqtt_endpoint(stack, ServiceAccount.NOTIFIER), f"offers-{device_id}")
    agent = start_agent(stack, device_id, tmp_path, device)
    try:
        wait_for(lambda: bool(listener.statuses()), what="the agent to connect")

        def offer(target: str, offer_id: str) -> bytes:
            return encode(
                Offer(
                    v=1,
                    offer_id=offer_id,
                    device_id=target,
                    kind="battery_check",
                    severity=Severity.MEDIUM,
                    title="Battery wearing fast",
                    body="Free battery check at a store near you.",
                    created_at=int(time.time() * 1000),
                )
            )

        notifier.publish(topics.topic(other, Channel.OFFERS), offer(other, "not-yours"))
        notifier.publish(topics.topic(device_id, Channel.OFFERS), offer(device_id, "offer-1"))
        wait_for(lambda: "offer-1" in agent.cli("offers").stdout, what="the offer on the device")
        listed = agent.cli("offers").stdout
        assert "not-yours" not in listed
        assert "Battery wearing fast" in listed

        agent.cli("respond", "offer-1", "accept", "--comment", "Saturday please")
        wait_for(lambda: bool(listener.poll()[Channel.OFFER_RESPONSES]), what="the answer")
        (answer,) = listener.poll()[Channel.OFFER_RESPONSES]
        assert isinstance(answer, OfferResponse)
        assert (answer.offer_id, answer.answer, answer.comment) == (
            "offer-1",
            "accept",
            "Saturday please",
        )
        assert "accept" in agent.cli("offers").stdout
    finally:
        agent.stop()
        notifier.close()
        listener.client.close()


def test_nothing_is_collected_before_consent_and_revoking_stops_and_deletes(
    stack: Settings, device_id: str, tmp_path: Path, device: Path
) -> None:
    listener = Listener(stack, device_id)
    agent = start_agent(stack, device_id, tmp_path, device, consent=False)
    try:
        time.sleep(3)
        assert agent.store().counters()["enqueued_samples"] == 0
        assert listener.batches() == []

        agent.cli("consent", "grant")
        wait_for(lambda: len(listener.batches()) >= 2, what="telemetry after the opt-in")
        assert "telemetry: yes" in agent.cli("consent", "show").stdout

        def updates() -> list[ConsentUpdate]:
            return [u for u in listener.poll()[Channel.CONSENT] if isinstance(u, ConsentUpdate)]

        assert [u.telemetry for u in updates()] == [True], "the opt-in reached the server"
        agent.cli("consent", "revoke")
        wait_for(lambda: len(updates()) == 2, what="the withdrawal")
        assert (updates()[-1].telemetry, updates()[-1].care_offers) == (False, False)
        outbox = agent.outbox()
        assert outbox.queued(Channel.TELEMETRY) == 0
        assert [e for e in outbox.pending() if e.seq is not None] == []
        sent = len(listener.batches())
        time.sleep(3)
        assert len(listener.batches()) == sent, "no telemetry after the withdrawal"
        assert agent.outbox().queued(Channel.TELEMETRY) == 0
    finally:
        agent.stop()
        listener.client.close()


def test_a_bad_agent_setting_names_its_variable(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('device_id = "phone-1"\nupload_interval_s = "often"\n')
    agent = AgentProcess(config, tmp_path / "log")
    with pytest.raises(subprocess.CalledProcessError) as caught:
        agent.cli("status")
    assert caught.value.returncode == 2
    assert "DEVICECARE_AGENT__UPLOAD_INTERVAL_S" in caught.value.stderr


def test_batches_wait_on_the_device_while_no_server_listens(
    stack: Settings, device_id: str, tmp_path: Path, device: Path
) -> None:
    agent = start_agent(stack, device_id, tmp_path, device)
    try:
        wait_for(lambda: agent.outbox().unsent()[0] >= 1, what="a batch nobody heard")
        time.sleep(2)
        assert agent.store().counters()["published_batches"] == 0
        listener = Listener(stack, device_id)
        wait_for(lambda: len(listener.batches()) >= 2, timeout_s=30, what="the kept batches")
    finally:
        agent.stop()
    assert_exactly_once(listener.batches(), agent)
    listener.client.close()
