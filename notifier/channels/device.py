"""The device itself: an `Offer` on the device's `offers` topic, QoS 1, as `_notifier`.

Sent means the broker acknowledged it for a subscriber: the agent's session is persistent,
so the broker keeps the offer until the device connects. A PUBACK saying nobody is
subscribed (MQTT 5 reason 0x10: the device never connected an agent) is a failure, and
the offer falls back to the next channel.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from devicecare.config import Settings
from devicecare.contracts import Answer, Channel, Offer, Severity, encode, topics
from devicecare.contracts.accounts import ServiceAccount
from devicecare.endpoints import mqtt_endpoint
from devicecare.errors import DeviceCareError
from devicecare.mqttclient import MqttEndpoint, new_client
from notifier.channels.base import OfferChannel, Outgoing, SendResult

log = logging.getLogger(__name__)

NO_MATCHING_SUBSCRIBERS = 0x10
RECONNECT_PAUSE_S = 5.0
"""After a failed connection, sends fail at once for this long (no timeout per offer)."""


def _ms(value: object) -> int:
    return int(value.timestamp() * 1000)  # type: ignore[attr-defined]


def offer_message(offer: Outgoing) -> Offer:
    """The wire `Offer` for an outgoing offer (the contract's payload model)."""
    return Offer(
        v=1,
        offer_id=offer.wire_id,
        device_id=offer.recipient.device_id,
        kind=offer.kind,
        severity=Severity(offer.severity),
        title=offer.title,
        body=offer.body,
        created_at=_ms(offer.created_at),
        locale=offer.locale,
        expires_at=_ms(offer.expires_at) if offer.expires_at else None,
        actions=[Answer.ACCEPT, Answer.DISMISS, Answer.WRONG],
    )


class DeviceChannel(OfferChannel):
    name = "device"
    touchpoint = "device_app"

    def __init__(self, endpoint: MqttEndpoint, timeout_s: float) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self.client: mqtt.Client | None = None
        self.connected = threading.Event()
        self.acks: dict[int, ReasonCode] = {}
        self.acked = threading.Condition()
        self.down_until = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> DeviceChannel | None:
        try:
            endpoint = mqtt_endpoint(settings, ServiceAccount.NOTIFIER)
        except DeviceCareError as exc:
            log.warning("device channel off: %s", exc)
            return None
        return cls(endpoint, settings.notifier.mqtt_timeout_s)

    def _connect(self) -> mqtt.Client:
        if self.client is not None and self.connected.is_set():
            return self.client
        self.close()
        client_id = f"_notifier-{socket.gethostname()}-{os.getpid()}-{id(self):x}"[:64]
        client = new_client(self.endpoint, client_id)
        client.on_connect = self._on_connect
        client.on_disconnect = lambda *_a: self.connected.clear()
        client.on_publish = self._on_publish
        client.connect(self.endpoint.host, self.endpoint.port, keepalive=30)
        client.loop_start()
        self.client = client
        if not self.connected.wait(self.timeout_s):
            raise ConnectionError("no CONNACK from the broker")
        return client

    def _on_connect(
        self, _c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object
    ) -> None:
        if rc.is_failure:
            log.error("broker refused the notifier: %s", rc)
        else:
            self.connected.set()

    def _on_publish(
        self, _c: mqtt.Client, _u: object, mid: int, rc: ReasonCode, _p: object
    ) -> None:
        with self.acked:
            self.acks[mid] = rc
            self.acked.notify_all()

    def send(self, offer: Outgoing) -> SendResult:
        target = topics.topic(offer.recipient.device_id, Channel.OFFERS)
        if time.monotonic() < self.down_until:
            return SendResult(False, "broker unreachable (recently failed)")
        try:
            client = self._connect()
            info = client.publish(target, encode(offer_message(offer)), qos=1)
        except (OSError, ConnectionError, ValueError) as exc:
            self.close()
            self.down_until = time.monotonic() + RECONNECT_PAUSE_S
            return SendResult(False, f"broker unreachable: {exc}")
        with self.acked:
            if not self.acked.wait_for(lambda: info.mid in self.acks, self.timeout_s):
                self.close()
                return SendResult(False, "no PUBACK in time")
            reason = self.acks.pop(info.mid)
        if reason.value == NO_MATCHING_SUBSCRIBERS:
            return SendResult(False, "no agent subscribed on the device's offers topic")
        if reason.is_failure:
            return SendResult(False, f"broker refused: {reason}")
        return SendResult(True, "broker acknowledged (QoS 1)")

    def close(self) -> None:
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()
            self.client = None
        self.connected.clear()
