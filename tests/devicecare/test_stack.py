"""The project-local stack: health, idempotent start, stop by PID, and the broker's ACL."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devicecare.config import Settings, load_settings
from devicecare.contracts import Channel, topics
from devicecare.contracts.accounts import ServiceAccount
from devicecare.endpoints import mqtt_endpoint
from devicecare.errors import StackError
from devicecare.mqttclient import MqttEndpoint
from devstack import local, processes
from devstack.state import read_state
from tests.support.mqtt_clients import BrokerClient, connect

pytestmark = pytest.mark.integration

Connect = Callable[[str], BrokerClient]


@pytest.fixture
def as_account(stack: Settings) -> Iterator[Connect]:
    """Connect to the broker as a service account or a provisioned device."""
    opened: list[BrokerClient] = []

    def open_as(account: str) -> BrokerClient:
        service = account.startswith("_")
        client_id = ServiceAccount(account).client_id(str(len(opened))) if service else account
        client = connect(mqtt_endpoint(stack, account), client_id)
        opened.append(client)
        return client

    yield open_as
    for client in opened:
        client.close()


def test_status_reports_both_services_and_the_edition(stack: Settings) -> None:
    db, broker = local.status(stack)
    assert db.healthy, db
    assert broker.healthy, broker
    assert "edition apache" in db.detail or "edition timescale" in db.detail


def test_up_again_is_a_no_op(stack: Settings) -> None:
    before = read_state(stack)
    local.up(stack)
    after = read_state(stack)
    assert before is not None
    assert after is not None
    assert after["postgres"]["pid"] == before["postgres"]["pid"]
    assert after["mosquitto"]["pid"] == before["mosquitto"]["pid"]


@pytest.fixture
def spare() -> Iterator[Settings]:
    """Settings for a second stack of its own, purged afterwards."""
    root = Path(tempfile.mkdtemp(prefix="devicecare-test-spare-"))
    root.chmod(0o755)
    settings = load_settings(state_dir=root)
    try:
        yield settings
    finally:
        local.down(settings, purge=True)
        shutil.rmtree(root, ignore_errors=True)


def test_down_stops_exactly_what_up_started(stack: Settings, spare: Settings) -> None:
    local.up(spare)
    state = read_state(spare)
    assert state is not None
    pids = {"postgres": state["postgres"]["pid"], "mosquitto": state["mosquitto"]["pid"]}
    assert all(processes.alive(pid, name) for name, pid in pids.items())

    stopped = local.down(spare)

    assert len(stopped) == 2
    assert not any(processes.alive(pid, name) for name, pid in pids.items())
    assert all(s.healthy for s in local.status(stack)), "the session's stack was touched"
    assert not any(s.healthy for s in local.status(spare))
    assert local.down(spare) == []


def test_a_stopped_stack_starts_again_with_its_data(spare: Settings) -> None:
    local.up(spare)
    local.provision_devices(spare, ["keeper-1"])
    local.down(spare)
    local.up(spare)
    assert all(s.healthy for s in local.status(spare))
    connect(mqtt_endpoint(local.fill(spare), "keeper-1"), "keeper-1").close()


def test_broker_refuses_bad_passwords_and_anonymous_clients(
    stack: Settings, device_id: str
) -> None:
    local.provision_devices(stack, [device_id])
    good = mqtt_endpoint(stack, device_id)
    for bad in (
        dataclasses.replace(good, password="wrong"),
        dataclasses.replace(good, username=None, password=None),
        dataclasses.replace(good, username="nobody-known"),
    ):
        with pytest.raises(ConnectionRefusedError, match=r"Not authorized|Bad user name"):
            connect(bad, device_id)


def test_device_publishes_only_under_its_own_topics(
    stack: Settings, as_account: Connect, device_id: str
) -> None:
    other = device_id + "-other"
    local.provision_devices(stack, [device_id, other])
    ingest = as_account(ServiceAccount.INGEST)
    assert ingest.subscribe(topics.subscription(Channel.TELEMETRY)) == "Granted QoS 1"
    device = as_account(device_id)

    spoofed = device.publish(topics.topic(other, Channel.TELEMETRY), b"spoofed")
    own = device.publish(topics.topic(device_id, Channel.TELEMETRY), b"own")

    assert spoofed == "Not authorized"
    assert own == "Success"
    got = [(m.topic, m.payload) for m in ingest.drain(1.0)]
    assert got == [(topics.topic(device_id, Channel.TELEMETRY), b"own")]


@pytest.mark.parametrize("channel", [Channel.CONFIG, Channel.OFFERS])
def test_device_cannot_publish_on_its_downlink(
    stack: Settings, as_account: Connect, device_id: str, channel: Channel
) -> None:
    local.provision_devices(stack, [device_id])
    device = as_account(device_id)
    assert device.publish(topics.topic(device_id, channel), b"x") == "Not authorized"


def test_device_reads_only_its_own_offers(
    stack: Settings, as_account: Connect, device_id: str
) -> None:
    other = device_id + "-other"
    local.provision_devices(stack, [device_id, other])
    device = as_account(device_id)
    assert device.subscribe(topics.topic(device_id, Channel.OFFERS)) == "Granted QoS 1"
    assert device.subscribe(topics.topic(other, Channel.OFFERS)) == "Not authorized"
    assert device.subscribe(topics.subscription(Channel.OFFERS)) == "Not authorized"

    notifier = as_account(ServiceAccount.NOTIFIER)
    theirs = notifier.publish(topics.topic(other, Channel.OFFERS), b"theirs")
    assert theirs == "No matching subscribers"
    assert notifier.publish(topics.topic(device_id, Channel.OFFERS), b"mine") == "Success"

    assert {m.payload for m in device.drain(1.0)} == {b"mine"}


def test_ingest_workers_share_one_subscription(
    stack: Settings, as_account: Connect, device_id: str
) -> None:
    local.provision_devices(stack, [device_id])
    shared = topics.subscription(Channel.TELEMETRY, shared_group="ingest")
    workers = [as_account(ServiceAccount.INGEST) for _ in range(2)]
    for worker in workers:
        assert worker.subscribe(shared) == "Granted QoS 1"
    device = as_account(device_id)
    sent = [f"batch-{i}".encode() for i in range(20)]
    for payload in sent:
        assert device.publish(topics.topic(device_id, Channel.TELEMETRY), payload) == "Success"

    per_worker = [[m.payload for m in w.drain(1.0)] for w in workers]

    assert sorted(per_worker[0] + per_worker[1]) == sorted(sent)
    assert all(per_worker), "each worker should get a share"


def test_device_accounts_need_the_local_broker(stack: Settings) -> None:
    external = load_settings(state_dir=stack.state_dir, mqtt_url="mqtt://u:p@127.0.0.1:1")
    with pytest.raises(StackError, match="external"):
        local.provision_devices(external, ["dev-x"])


def test_mqtt_url_overrides_the_local_stack(stack: Settings) -> None:
    external = load_settings(state_dir=stack.state_dir, mqtt_url="mqtts://svc:s%40cret@broker:8883")
    assert mqtt_endpoint(external, ServiceAccount.INGEST) == MqttEndpoint(
        "broker", 8883, "svc", "s@cret", tls=True
    )
