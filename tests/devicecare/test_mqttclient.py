"""The one MQTT publisher against the real broker: CONNACK, and each PUBACK's outcome,
whether the owner drives the network or paho's thread does."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from devicecare.config import Settings
from devicecare.contracts import Channel, topics
from devicecare.contracts.accounts import ServiceAccount
from devicecare.endpoints import mqtt_endpoint
from devicecare.mqttclient import Outcome, Publisher
from devstack import local

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 10.0
PACKAGES = ("agent", "api", "demo", "detectors", "devicecare", "ingest", "notifier", "simulator")


def test_each_puback_says_delivered_unheard_or_refused(stack: Settings, device_id: str) -> None:
    """As the notifier: an offer for a device no agent listens on is unheard, a write the
    ACL forbids is refused, and once the device subscribes the offer is delivered."""
    local.provision_devices(stack, [device_id])
    notifier = Publisher(mqtt_endpoint(stack, ServiceAccount.NOTIFIER), f"n-{device_id}")
    notifier.connect()
    notifier.wait_connected(TIMEOUT_S)
    offers = topics.topic(device_id, Channel.OFFERS)
    unheard = notifier.publish(offers, b"a")
    refused = notifier.publish(topics.topic(device_id, Channel.TELEMETRY), b"b")
    assert unheard is not None
    assert refused is not None
    assert notifier.wait([unheard, refused], TIMEOUT_S) == {
        unheard: Outcome.UNHEARD,
        refused: Outcome.REFUSED,
    }

    device = Publisher(mqtt_endpoint(stack, device_id), device_id)
    device.connect(threaded=True)
    device.wait_connected(TIMEOUT_S)
    subscribed = device.subscribe(offers)
    assert subscribed is not None
    assert device.wait([subscribed], TIMEOUT_S) == {subscribed: Outcome.DELIVERED}
    heard = notifier.publish(offers, b"c")
    assert heard is not None
    assert notifier.wait([heard], TIMEOUT_S) == {heard: Outcome.DELIVERED}
    assert notifier.take_settled() == [], "a waited-for acknowledgement is taken once"
    device.close()
    notifier.close()


def test_a_refused_connection_names_the_broker_reason(stack: Settings, device_id: str) -> None:
    local.provision_devices(stack, [device_id])
    wrong = dataclasses.replace(mqtt_endpoint(stack, device_id), password="wrong")
    publisher = Publisher(wrong, device_id)
    publisher.connect()
    with pytest.raises(ConnectionRefusedError, match=r"Not authorized|Bad user name"):
        publisher.wait_connected(TIMEOUT_S)
    publisher.close()


def test_the_no_matching_subscribers_reason_is_defined_once() -> None:
    defined = [
        path.relative_to(ROOT).as_posix()
        for folder in PACKAGES
        for path in (ROOT / folder).rglob("*.py")
        if re.search(r"^\s*\w+\s*(:[^=]+)?=\s*0x10\b", path.read_text(), re.MULTILINE)
    ]
    assert defined == ["devicecare/mqttclient.py"]
