"""What one device account cannot do to others on the local broker (issue 11, items 2, 3, 9).

Each test is an attack seen on an earlier broker configuration: taking over another
device's session by its client id, wiping ingest's queued session, joining ingest's
shared group to make the broker drop acknowledged batches, and the whole ACL walked
for every channel and wildcard from a device and from every service account.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from devicecare.config import Settings
from devicecare.contracts import Channel, topics
from devicecare.contracts.accounts import ServiceAccount
from devicecare.endpoints import mqtt_endpoint
from devstack import local
from devstack.mosquitto import CONTROL_TOPIC
from tests.support.mqtt_clients import BrokerClient, connect

pytestmark = pytest.mark.integration

REFUSED = "Not authorized"
GRANTED = "Granted QoS 1"
SESSION_S = 600


@pytest.fixture
def opened() -> Iterator[list[BrokerClient]]:
    """Clients a test opened, closed at its end whatever happened."""
    clients: list[BrokerClient] = []
    yield clients
    for client in clients:
        client.close()


@pytest.fixture
def open_as(stack: Settings, opened: list[BrokerClient]) -> Callable[..., BrokerClient]:
    def open_client(
        account: str, client_id: str, session_expiry_s: int | None = None
    ) -> BrokerClient:
        client = connect(
            mqtt_endpoint(stack, account), client_id, session_expiry_s=session_expiry_s
        )
        opened.append(client)
        return client

    return open_client


def test_a_device_cannot_take_over_another_devices_session(
    stack: Settings, device_id: str, open_as: Callable[..., BrokerClient]
) -> None:
    victim = device_id + "-b"
    local.provision_devices(stack, [device_id, victim])
    owner = open_as(victim, victim, SESSION_S)
    assert owner.subscribe(topics.topic(victim, Channel.OFFERS)) == GRANTED

    with pytest.raises(ConnectionRefusedError, match=REFUSED):
        connect(mqtt_endpoint(stack, device_id), victim, session_expiry_s=SESSION_S)

    notifier = open_as(ServiceAccount.NOTIFIER, ServiceAccount.NOTIFIER.client_id("t"))
    assert notifier.publish(topics.topic(victim, Channel.OFFERS), b"offer") == "Success"
    assert [m.payload for m in owner.drain(0.5)] == [b"offer"]
    assert owner.client.is_connected()


def test_nobody_can_wipe_ingests_queued_session(
    stack: Settings, device_id: str, open_as: Callable[..., BrokerClient]
) -> None:
    local.provision_devices(stack, [device_id])
    ingest_id = ServiceAccount.INGEST.client_id(f"test-{uuid.uuid4().hex[:8]}")
    ingest = connect(mqtt_endpoint(stack, ServiceAccount.INGEST), ingest_id, session_expiry_s=60)
    assert ingest.subscribe(topics.topic(device_id, Channel.TELEMETRY)) == GRANTED
    ingest.close()  # ingest is down; the broker queues for its session
    device = open_as(device_id, device_id)
    sent = [f"batch-{i}".encode() for i in range(20)]
    for payload in sent:
        assert device.publish(topics.topic(device_id, Channel.TELEMETRY), payload) == "Success"

    for client_id in (ingest_id, ServiceAccount.INGEST.client_id("x"), "ingest-0"):
        with pytest.raises(ConnectionRefusedError, match=REFUSED):
            connect(mqtt_endpoint(stack, device_id), client_id)  # clean start

    back = open_as(ServiceAccount.INGEST, ingest_id, 60)
    assert [m.payload for m in back.drain(1.0)] == sent


def test_a_device_cannot_join_ingests_shared_group(
    stack: Settings, device_id: str, open_as: Callable[..., BrokerClient]
) -> None:
    local.provision_devices(stack, [device_id])
    group = f"ingest{uuid.uuid4().hex[:6]}"
    shared = topics.subscription(Channel.TELEMETRY, shared_group=group)
    worker = open_as(ServiceAccount.INGEST, ServiceAccount.INGEST.client_id(group))
    assert worker.subscribe(shared) == GRANTED
    device = open_as(device_id, device_id)

    assert device.subscribe(shared) == REFUSED
    sent = [f"batch-{i}".encode() for i in range(100)]
    for payload in sent:
        assert device.publish(topics.topic(device_id, Channel.TELEMETRY), payload) == "Success"

    assert device.drain(0.3) == []
    assert sorted(m.payload for m in worker.drain(1.0)) == sorted(sent)


def _filters(device_id: str, other: str) -> dict[str, tuple[str, Channel | None]]:
    """Every topic form a client could aim at: own, someone else's, wildcards, shares."""
    forms: dict[str, tuple[str, Channel | None]] = {}
    for channel in Channel:
        forms[f"own {channel}"] = (topics.topic(device_id, channel), channel)
        forms[f"other's {channel}"] = (topics.topic(other, channel), channel)
        forms[f"every {channel}"] = (topics.subscription(channel), channel)
        forms[f"shared {channel}"] = (topics.subscription(channel, shared_group="ingest"), channel)
    for wildcard in ("#", "dc/#", "dc/v1/devices/+/+", f"dc/v1/devices/{device_id}/#", "$SYS/#"):
        forms[wildcard] = (wildcard, None)
    forms["control"] = (CONTROL_TOPIC, None)
    forms["control responses"] = (f"{CONTROL_TOPIC}/response", None)
    forms["control wildcard"] = ("$CONTROL/#", None)
    return forms


def _may_subscribe(account: str, form: str, channel: Channel | None) -> bool:
    """The intended ACL, stated from the contract rather than read from the broker's config."""
    if account == ServiceAccount.ADMIN:
        return form == "control responses"
    if channel is None:
        return False
    if not account.startswith("_"):
        return form == f"own {channel}" and channel in topics.DOWNLINK_CHANNELS
    if form.startswith("shared"):
        return account == ServiceAccount.INGEST and channel in topics.UPLINK_CHANNELS
    return _service_reads(account, channel)


def _service_reads(account: str, channel: Channel) -> bool:
    return {
        ServiceAccount.INGEST: channel in topics.UPLINK_CHANNELS,
        ServiceAccount.NOTIFIER: channel in (Channel.OFFER_RESPONSES, Channel.STATUS),
        ServiceAccount.MONITOR: channel is Channel.STATUS,
    }.get(ServiceAccount(account), False)


def _may_publish(account: str, form: str, channel: Channel | None) -> bool:
    if account == ServiceAccount.ADMIN:
        return form == "control"
    if channel is None or form.startswith(("every", "shared")):
        return False
    if not account.startswith("_"):
        return form == f"own {channel}" and channel in topics.UPLINK_CHANNELS
    return account == ServiceAccount.NOTIFIER and channel in topics.DOWNLINK_CHANNELS


@pytest.mark.parametrize("account", ["device", *ServiceAccount])
def test_the_acl_walked_for_every_channel_and_wildcard(
    stack: Settings, device_id: str, open_as: Callable[..., BrokerClient], account: str
) -> None:
    other = device_id + "-other"
    local.provision_devices(stack, [device_id, other])
    name = device_id if account == "device" else account
    client_id = device_id if account == "device" else ServiceAccount(account).client_id("acl")
    client = open_as(name, client_id)
    wrong: list[str] = []
    for form, (topic_filter, channel) in _filters(device_id, other).items():
        subscribed = client.subscribe(topic_filter)
        if (subscribed == GRANTED) != _may_subscribe(account, form, channel):
            wrong.append(f"subscribe {form} ({topic_filter}): {subscribed}")
        if "+" in topic_filter or "#" in topic_filter or topic_filter.startswith("$SYS"):
            continue
        if topic_filter == CONTROL_TOPIC:
            continue  # a command from the admin account; its publish right is checked below
        published = client.publish(topic_filter, b"{}")
        if (published != REFUSED) != _may_publish(account, form, channel):
            wrong.append(f"publish {form} ({topic_filter}): {published}")
    if account == ServiceAccount.ADMIN:
        published = client.publish(CONTROL_TOPIC, b'{"commands": []}')
        if published == REFUSED:
            wrong.append(f"publish control: {published}")
    assert wrong == [], f"{account}: " + "; ".join(wrong)
