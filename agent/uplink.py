"""The agent's MQTT session: connect as the device, back off with jitter, publish, ack.

One paho client per connection attempt, driven from the agent's own loop (no extra
thread). A fresh client after every loss means paho holds no copies of unacknowledged
messages: the agent's outbox is the only place they live, and it re-sends them itself.
The session is persistent (clean start off, session expiry set) so offers sent while the
device was offline are delivered when it returns. The retained status topic says
`online` at connect and `offline` through the last will.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from enum import Enum

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from agent.settings import AgentSettings
from devicecare.contracts import Channel, topics
from devicecare.mqttclient import new_client

log = logging.getLogger(__name__)

NO_MATCHING_SUBSCRIBERS = 0x10


class Outcome(Enum):
    """What a PUBACK says about a message."""

    DELIVERED = "delivered"
    REFUSED = "refused"
    UNHEARD = "unheard"
    """Accepted, but nobody was subscribed (MQTT 5 reason 0x10): the server side is down
    and a broker such as Mosquitto keeps nothing for absent shared subscribers, so the
    agent keeps the batch and tries again later."""


class Uplink:
    def __init__(
        self,
        settings: AgentSettings,
        *,
        will: bytes,
        on_connect: Callable[[], None],
        on_message: Callable[[str, bytes], None],
    ) -> None:
        self.settings = settings
        self.endpoint = settings.endpoint()
        self.device_id = settings.device_id
        self.will = will
        self._on_connect = on_connect
        self._on_message = on_message
        self.client: mqtt.Client | None = None
        self.connected = False
        self.sessions = 0
        self.failures = 0
        self.next_attempt = 0.0
        self.acks: list[tuple[int, Outcome]] = []

    def poll(self, timeout: float) -> None:
        """Run the network for up to `timeout` seconds, connecting when it is time."""
        if self.client is None:
            wait = self.next_attempt - time.monotonic()
            if wait > 0:
                time.sleep(min(wait, timeout))
                return
            self._connect()
            if self.client is None:
                return
        rc = self.client.loop(timeout)
        if rc != mqtt.MQTT_ERR_SUCCESS and self.client is not None:
            self._lost(f"network: {mqtt.error_string(rc)}")

    def publish(self, channel: Channel, payload: bytes, *, retain: bool = False) -> int | None:
        """Send with QoS 1; the returned message id comes back in `acks` with the PUBACK."""
        if self.client is None or not self.connected:
            return None
        info = self.client.publish(
            topics.topic(self.device_id, channel), payload, qos=1, retain=retain
        )
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return None
        return info.mid

    def close(self, farewell: bytes | None, timeout_s: float = 5.0) -> None:
        """Say `offline` (retained), wait briefly for acks in flight, disconnect."""
        client = self.client
        if client is None:
            return
        if self.connected and farewell is not None:
            mid = self.publish(Channel.STATUS, farewell, retain=True)
            deadline = time.monotonic() + timeout_s
            while mid is not None and self.client is client and time.monotonic() < deadline:
                if any(m == mid for m, _ in self.acks):
                    break
                client.loop(0.1)
        client.on_disconnect = None
        client.disconnect()
        client.loop(0.1)
        self.client = None
        self.connected = False

    def _connect(self) -> None:
        client = new_client(self.endpoint, client_id=self.device_id)
        client.will_set(topics.topic(self.device_id, Channel.STATUS), self.will, qos=1, retain=True)
        client.on_connect = self._connected
        client.on_disconnect = self._disconnected
        client.on_message = self._message
        client.on_publish = self._published
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.settings.session_expiry_s
        self.client = client
        try:
            client.connect(
                self.endpoint.host,
                self.endpoint.port,
                keepalive=self.settings.keepalive_s,
                clean_start=False,
                properties=props,
            )
        except (OSError, ValueError) as exc:
            self._lost(f"connect: {exc}")

    def _lost(self, why: str) -> None:
        client, self.client = self.client, None
        if client is not None:
            client.on_disconnect = None
            client.disconnect()
            client.loop(0.01)
        self.connected = False
        self.failures += 1
        cap = min(
            self.settings.reconnect_max_s,
            self.settings.reconnect_min_s * 2 ** min(self.failures - 1, 30),
        )
        delay = cap / 2 + random.uniform(0, cap / 2)  # noqa: S311 - jitter, not crypto
        self.next_attempt = time.monotonic() + delay
        log.warning("broker connection lost (%s); retrying in %.1f s", why, delay)

    def _connected(
        self, client: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object
    ) -> None:
        if reason.is_failure:
            self._lost(f"refused: {reason}")
            return
        self.connected = True
        self.failures = 0
        self.sessions += 1
        self.acks.clear()
        for channel in (Channel.CONFIG, Channel.OFFERS):
            client.subscribe(topics.topic(self.device_id, channel), qos=1)
        log.info("connected to %s:%s", self.endpoint.host, self.endpoint.port)
        self._on_connect()

    def _disconnected(
        self, _c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object
    ) -> None:
        if self.client is not None:
            self._lost(f"disconnected: {reason}")

    def _message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        self._on_message(message.topic, message.payload)

    def _published(
        self, _c: mqtt.Client, _u: object, mid: int, reason: ReasonCode, _p: object
    ) -> None:
        if reason.is_failure:
            outcome = Outcome.REFUSED
        elif reason.value == NO_MATCHING_SUBSCRIBERS:
            outcome = Outcome.UNHEARD
        else:
            outcome = Outcome.DELIVERED
        self.acks.append((mid, outcome))
