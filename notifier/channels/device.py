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
import time

from devicecare.config import Settings
from devicecare.contracts import Answer, Channel, Offer, encode, topics
from devicecare.contracts.accounts import ServiceAccount
from devicecare.contracts.vocabulary import TouchPoint
from devicecare.endpoints import mqtt_endpoint
from devicecare.errors import DeviceCareError
from devicecare.mqttclient import MqttEndpoint, Outcome, Publisher
from devicecare.timeconv import to_ms
from notifier.channels.base import OfferChannel, Outgoing, SendResult

log = logging.getLogger(__name__)

RECONNECT_PAUSE_S = 5.0
"""After a failed connection, sends fail at once for this long (no timeout per offer)."""


def offer_message(offer: Outgoing) -> Offer:
    """The wire `Offer` for an outgoing offer (the contract's payload model)."""
    return Offer(
        v=1,
        offer_id=offer.wire_id,
        device_id=offer.recipient.device_id,
        kind=offer.kind,
        severity=offer.severity,
        title=offer.title,
        body=offer.body,
        created_at=to_ms(offer.created_at),
        locale=offer.locale,
        expires_at=to_ms(offer.expires_at) if offer.expires_at else None,
        actions=[Answer.ACCEPT, Answer.DISMISS, Answer.WRONG],
    )


class DeviceChannel(OfferChannel):
    name = "device"
    touchpoint = TouchPoint.DEVICE_APP

    def __init__(self, endpoint: MqttEndpoint, timeout_s: float) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self.publisher: Publisher | None = None
        self.down_until = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> DeviceChannel | None:
        try:
            endpoint = mqtt_endpoint(settings, ServiceAccount.NOTIFIER)
        except DeviceCareError as exc:
            log.warning("device channel off: %s", exc)
            return None
        return cls(endpoint, settings.notifier.mqtt_timeout_s)

    def _connect(self) -> Publisher:
        if self.publisher is not None and self.publisher.connected:
            return self.publisher
        self.close()
        client_id = ServiceAccount.NOTIFIER.client_id(
            f"{socket.gethostname()}-{os.getpid()}-{id(self):x}"
        )
        publisher = Publisher(self.endpoint, client_id)
        self.publisher = publisher
        publisher.connect(keepalive=30, threaded=True)
        publisher.wait_connected(self.timeout_s)
        return publisher

    def send(self, offer: Outgoing) -> SendResult:
        target = topics.topic(offer.recipient.device_id, Channel.OFFERS)
        if time.monotonic() < self.down_until:
            return SendResult(False, "broker unreachable (recently failed)")
        try:
            publisher = self._connect()
            mid = publisher.publish(target, encode(offer_message(offer)))
            if mid is None:
                raise ConnectionError("the client could not queue the offer")
        except (OSError, TimeoutError, ValueError) as exc:
            self.close()
            self.down_until = time.monotonic() + RECONNECT_PAUSE_S
            return SendResult(False, f"broker unreachable: {exc}")
        try:
            outcome = publisher.wait([mid], self.timeout_s)[mid]
        except TimeoutError:
            self.close()
            return SendResult(False, "no PUBACK in time")
        if outcome is Outcome.UNHEARD:
            return SendResult(False, "no agent subscribed on the device's offers topic")
        if outcome is Outcome.REFUSED:
            return SendResult(False, "broker refused the offer")
        return SendResult(True, "broker acknowledged (QoS 1)")

    def close(self) -> None:
        if self.publisher is not None:
            self.publisher.close()
            self.publisher = None
