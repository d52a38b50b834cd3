"""The agent's MQTT session: connect as the device, back off with jitter, publish, ack.

One `Publisher` (devicecare.mqttclient) per connection attempt, driven from the agent's
own loop (no extra thread). A fresh client after every loss means paho holds no copies
of unacknowledged messages: the agent's outbox is the only place they live, and it
re-sends them itself. The session is persistent (clean start off, session expiry set)
so offers sent while the device was offline are delivered when it returns. The retained
status topic says `online` at connect and `offline` through the last will.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from agent.settings import AgentSettings
from devicecare.contracts import Channel, topics
from devicecare.mqttclient import Outcome, Publisher

log = logging.getLogger(__name__)


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
        self.publisher: Publisher | None = None
        self.connected = False
        self.sessions = 0
        self.failures = 0
        self.next_attempt = 0.0

    def poll(self, timeout: float) -> None:
        """Run the network for up to `timeout` seconds, connecting when it is time."""
        if self.publisher is None:
            wait = self.next_attempt - time.monotonic()
            if wait > 0:
                time.sleep(min(wait, timeout))
                return
            self._connect()
            if self.publisher is None:
                return
        rc = self.publisher.loop(timeout)
        if rc != mqtt.MQTT_ERR_SUCCESS and self.publisher is not None:
            self._lost(f"network: {mqtt.error_string(rc)}")

    def publish(self, channel: Channel, payload: bytes, *, retain: bool = False) -> int | None:
        """Send with QoS 1; the message id comes back from `acks` with the PUBACK."""
        if self.publisher is None or not self.connected:
            return None
        return self.publisher.publish(topics.topic(self.device_id, channel), payload, retain=retain)

    def acks(self) -> list[tuple[int, Outcome]]:
        """The acknowledgements that arrived since the last call, on this session."""
        return [] if self.publisher is None else self.publisher.take_settled()

    def close(self, farewell: bytes | None, timeout_s: float = 5.0) -> None:
        """Say `offline` (retained), wait briefly for its acknowledgement, disconnect."""
        publisher = self.publisher
        if publisher is None:
            return
        if self.connected and farewell is not None:
            mid = self.publish(Channel.STATUS, farewell, retain=True)
            if mid is not None:
                try:
                    publisher.wait([mid], timeout_s)
                except (TimeoutError, ConnectionError) as exc:
                    log.warning("offline status not acknowledged: %s", exc)
        publisher.close()
        self.publisher = None
        self.connected = False

    def _connect(self) -> None:
        publisher = Publisher(
            self.endpoint,
            self.device_id,
            on_connect=self._connected,
            on_disconnect=self._disconnected,
            on_message=self._on_message,
        )
        self.publisher = publisher
        try:
            publisher.connect(
                keepalive=self.settings.keepalive_s,
                session_expiry_s=self.settings.session_expiry_s,
                will=(topics.topic(self.device_id, Channel.STATUS), self.will),
            )
        except (OSError, ValueError) as exc:
            self._lost(f"connect: {exc}")

    def _lost(self, why: str) -> None:
        publisher, self.publisher = self.publisher, None
        if publisher is not None:
            publisher.close()
        self.connected = False
        self.failures += 1
        cap = min(
            self.settings.reconnect_max_s,
            self.settings.reconnect_min_s * 2 ** min(self.failures - 1, 30),
        )
        delay = cap / 2 + random.uniform(0, cap / 2)  # noqa: S311 - jitter, not crypto
        self.next_attempt = time.monotonic() + delay
        log.warning("broker connection lost (%s); retrying in %.1f s", why, delay)

    def _connected(self, reason: ReasonCode) -> None:
        if reason.is_failure:
            self._lost(f"refused: {reason}")
            return
        assert self.publisher is not None
        self.connected = True
        self.failures = 0
        self.sessions += 1
        for channel in (Channel.CONFIG, Channel.OFFERS):
            self.publisher.subscribe(topics.topic(self.device_id, channel))
        log.info("connected to %s:%s", self.endpoint.host, self.endpoint.port)
        self._on_connect()

    def _disconnected(self, reason: ReasonCode) -> None:
        if self.publisher is not None:
            self._lost(f"disconnected: {reason}")
