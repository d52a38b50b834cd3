"""MQTT endpoints and paho-mqtt 2 clients, shared by every MQTT-speaking part.

Kept free of the server settings (pydantic) so that the device agent can use it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode


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
