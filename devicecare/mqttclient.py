"""Building paho-mqtt 2 clients from an endpoint, shared by every MQTT-speaking part."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from devicecare.endpoints import MqttEndpoint


def new_client(endpoint: MqttEndpoint, client_id: str) -> mqtt.Client:
    """An MQTT 5 client with the endpoint's credentials and TLS, not yet connected."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    if endpoint.username is not None:
        client.username_pw_set(endpoint.username, endpoint.password)
    if endpoint.tls:
        client.tls_set()
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
