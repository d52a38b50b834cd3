"""MQTT endpoints, paho-mqtt 2 clients and the one publisher every MQTT-speaking part uses.

`Publisher` owns connect, publish-with-QoS-1 and the PUBACK of every message, with the
MQTT 5 reason codes read in one place: the agent, the notifier's device channel, the
simulator and the demo call it instead of writing the wait-for-PUBACK loop again. Kept
free of the server settings (pydantic) so that the device agent can use it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from enum import Enum
from typing import Final
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

NO_MATCHING_SUBSCRIBERS: Final = 0x10
"""MQTT 5 PUBACK reason: the broker took the message, but no subscription matched it."""


@dataclass(frozen=True, slots=True)
class MqttEndpoint:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    @classmethod
    def from_url(cls, url: str, **extra: str | None) -> MqttEndpoint:
        """Parse `mqtt[s]://[user[:password]@]host[:port]`; `extra` sets the TLS files."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"not an mqtt:// or mqtts:// URL: {url!r}")
        tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (8883 if tls else 1883),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
            **extra,
        )

    def __repr__(self) -> str:
        return f"MqttEndpoint({self.username or '-'}@{self.host}:{self.port}, tls={self.tls})"


def new_client(endpoint: MqttEndpoint, client_id: str) -> mqtt.Client:
    """An MQTT 5 client with the endpoint's credentials and TLS, not yet connected."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    if endpoint.username is not None:
        client.username_pw_set(endpoint.username, endpoint.password)
    if endpoint.tls:
        client.tls_set(
            ca_certs=endpoint.ca_file, certfile=endpoint.cert_file, keyfile=endpoint.key_file
        )
    return client


def probe(endpoint: MqttEndpoint, client_id: str, timeout_s: float = 5.0) -> str:
    """Connect once and report the broker's answer ("Success" when accepted)."""
    client = new_client(endpoint, client_id)
    answered = threading.Event()
    outcome: list[str] = []

    def on_connect(_c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        outcome.append(str(reason))
        answered.set()

    client.on_connect = on_connect
    try:
        client.connect(endpoint.host, endpoint.port, keepalive=10)
    except OSError as exc:
        return f"unreachable: {exc}"
    client.loop_start()
    try:
        if not answered.wait(timeout_s):
            return "no answer"
        return outcome[0]
    finally:
        client.disconnect()
        client.loop_stop()


class Outcome(Enum):
    """What the broker's acknowledgement (PUBACK, or SUBACK) says about a message."""

    DELIVERED = "delivered"
    REFUSED = "refused"
    UNHEARD = "unheard"
    """Accepted, but nobody was subscribed (`NO_MATCHING_SUBSCRIBERS`). A broker such as
    Mosquitto keeps nothing for absent shared subscribers, so for a device this means the
    server side is down and the message should be kept and sent again later."""


def outcome_of(reason: ReasonCode) -> Outcome:
    """The outcome a PUBACK reason code stands for."""
    if reason.is_failure:
        return Outcome.REFUSED
    if reason.value == NO_MATCHING_SUBSCRIBERS:
        return Outcome.UNHEARD
    return Outcome.DELIVERED


class Publisher:
    """One MQTT 5 connection that publishes with QoS 1 and tracks the PUBACK of each message.

    The owner either drives the network itself (`loop`, on its own thread: the agent, the
    simulator and the demo) or hands it to paho's thread (`connect(threaded=True)`: the
    notifier); `wait_connected` and `wait` work either way. Acknowledgements are kept by
    message id until taken (`wait` or `take_settled`), so none is missed between a publish
    and the wait for it. The hooks run on the network thread and must not raise.
    """

    def __init__(
        self,
        endpoint: MqttEndpoint,
        client_id: str,
        *,
        on_connect: Callable[[ReasonCode], None] | None = None,
        on_disconnect: Callable[[ReasonCode], None] | None = None,
        on_message: Callable[[str, bytes], None] | None = None,
        max_inflight: int | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.client_id = client_id
        self.client = new_client(endpoint, client_id)
        if max_inflight is not None:
            self.client.max_inflight_messages_set(max_inflight)
        self.connack: ReasonCode | None = None
        self.connected = False
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._on_message = on_message
        self._threaded = False
        self._settled: dict[int, Outcome] = {}
        self._changed = threading.Condition()
        self.client.on_connect = self._connected
        self.client.on_disconnect = self._disconnected
        self.client.on_publish = self._published
        self.client.on_subscribe = self._subscribed
        if on_message is not None:
            self.client.on_message = self._message

    def connect(
        self,
        *,
        keepalive: int = 60,
        session_expiry_s: int | None = None,
        will: tuple[str, bytes] | None = None,
        threaded: bool = False,
    ) -> None:
        """Send CONNECT. With `session_expiry_s` the session is resumed (clean start off)
        and outlives the connection; `will` is a retained QoS 1 last will (topic, payload).
        The CONNACK arrives through the network loop: see `wait_connected`.
        Raises OSError or ValueError when the broker cannot be reached."""
        if will is not None:
            self.client.will_set(will[0], will[1], qos=1, retain=True)
        props = None
        if session_expiry_s is not None:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = session_expiry_s
        self.client.connect(
            self.endpoint.host,
            self.endpoint.port,
            keepalive=keepalive,
            clean_start=session_expiry_s is None,
            properties=props,
        )
        if threaded:
            self._threaded = True
            self.client.loop_start()

    def wait_connected(self, timeout_s: float) -> None:
        """Until the CONNACK; ConnectionRefusedError with the broker's reason, or TimeoutError."""
        self._until(
            lambda: self.connack is not None, timeout_s, lambda: "no CONNACK from the broker"
        )
        assert self.connack is not None
        if self.connack.is_failure:
            raise ConnectionRefusedError(f"broker refused {self.client_id}: {self.connack}")

    def loop(self, timeout_s: float) -> int:
        """Run the network for up to `timeout_s` (owner-driven mode); paho's result code."""
        return self.client.loop(timeout_s)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> int | None:
        """Send with QoS 1; the message id, whose outcome `wait` or `take_settled` give,
        or None when the client could not queue it (not connected)."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        return info.mid if info.rc == mqtt.MQTT_ERR_SUCCESS else None

    def subscribe(self, topic: str) -> int | None:
        """Subscribe with QoS 1; the SUBACK is waited for like a PUBACK, by message id."""
        rc, mid = self.client.subscribe(topic, qos=1)
        return mid if rc == mqtt.MQTT_ERR_SUCCESS else None

    def wait(self, mids: Collection[int], timeout_s: float) -> dict[int, Outcome]:
        """The outcome of each message in `mids`, once all are acknowledged.

        TimeoutError names how many are missing; ConnectionError when the connection
        drops meanwhile (owner-driven mode)."""
        wanted = set(mids)
        self._until(
            lambda: wanted <= self._settled.keys(),
            timeout_s,
            lambda: f"{len(wanted - self._settled.keys())} PUBACKs missing",
        )
        with self._changed:
            return {mid: self._settled.pop(mid) for mid in wanted}

    def take_settled(self) -> list[tuple[int, Outcome]]:
        """Every acknowledgement received and not yet taken (for a loop that does not block)."""
        with self._changed:
            settled, self._settled = list(self._settled.items()), {}
        return settled

    def close(self) -> None:
        """Disconnect without a last will; stops paho's thread in threaded mode."""
        self._on_disconnect = None
        self.client.disconnect()
        if self._threaded:
            self.client.loop_stop()
        else:
            self.client.loop(0.01)
        self.connected = False

    def _until(
        self,
        done: Callable[[], bool],
        timeout_s: float,
        failure: Callable[[], str],
    ) -> None:
        """Until `done()`: waits on paho's thread, or drives the network meanwhile."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._changed:
                if done():
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(failure())
                if self._threaded:
                    self._changed.wait(left)
                    continue
            rc = self.client.loop(min(0.05, left))
            if rc != mqtt.MQTT_ERR_SUCCESS:
                with self._changed:
                    if done():  # e.g. a refusing CONNACK, after which paho disconnects
                        return
                raise ConnectionError(f"connection lost: {mqtt.error_string(rc)}")

    def _connected(
        self, _c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object
    ) -> None:
        with self._changed:
            self.connack = reason
            self.connected = not reason.is_failure
            self._changed.notify_all()
        if self._on_connect is not None:
            self._on_connect(reason)

    def _disconnected(
        self, _c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object
    ) -> None:
        self.connected = False
        if self._on_disconnect is not None:
            self._on_disconnect(reason)

    def _published(
        self, _c: mqtt.Client, _u: object, mid: int, reason: ReasonCode, _p: object
    ) -> None:
        with self._changed:
            self._settled[mid] = outcome_of(reason)
            self._changed.notify_all()

    def _subscribed(
        self, _c: mqtt.Client, _u: object, mid: int, reasons: list[ReasonCode], _p: object
    ) -> None:
        refused = any(r.is_failure for r in reasons)
        with self._changed:
            self._settled[mid] = Outcome.REFUSED if refused else Outcome.DELIVERED
            self._changed.notify_all()

    def _message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        assert self._on_message is not None
        self._on_message(message.topic, message.payload)
