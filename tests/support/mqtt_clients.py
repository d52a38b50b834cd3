"""Synchronous wrappers around paho clients for tests against the real broker."""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from devicecare.mqttclient import MqttEndpoint, new_client

TIMEOUT_S = 10.0


@dataclass
class BrokerClient:
    """A connected client that records what it receives and the broker's acks."""

    client: mqtt.Client
    received: queue.Queue[mqtt.MQTTMessage] = field(default_factory=queue.Queue)
    acks: dict[int, str] = field(default_factory=dict)
    acked: threading.Condition = field(default_factory=threading.Condition)

    def publish(self, topic: str, payload: bytes, qos: int = 1, *, retain: bool = False) -> str:
        """Publish and wait for the broker's PUBACK; return its reason ("Success", ...)."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        with self.acked:
            if not self.acked.wait_for(lambda: info.mid in self.acks, TIMEOUT_S):
                raise TimeoutError(f"no PUBACK for {topic}")
            return self.acks.pop(info.mid)

    def subscribe(self, topic: str, qos: int = 1) -> str:
        """Subscribe and wait for the SUBACK; return its reason for the one filter."""
        done: queue.Queue[str] = queue.Queue()
        self.client.on_subscribe = lambda _c, _u, _m, codes, _p: done.put(str(codes[0]))
        self.client.subscribe(topic, qos=qos)
        return done.get(timeout=TIMEOUT_S)

    def drain(self, wait_s: float) -> list[mqtt.MQTTMessage]:
        """Everything received within `wait_s` seconds from now."""
        out = []
        try:
            while True:
                out.append(self.received.get(timeout=wait_s))
        except queue.Empty:
            return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def connect(
    endpoint: MqttEndpoint, client_id: str, *, session_expiry_s: int | None = None
) -> BrokerClient:
    """Connect and wait for CONNACK; raise ConnectionRefusedError with the broker's reason.

    With `session_expiry_s`, the session (subscriptions, queued messages) outlives a
    disconnection or a broker restart, and the client reconnects by itself.
    """
    client = new_client(endpoint, client_id)
    client.reconnect_delay_set(0.2, 1)
    test = BrokerClient(client)
    connected: queue.Queue[ReasonCode] = queue.Queue()

    def on_publish(_c: mqtt.Client, _u: object, mid: int, reason: ReasonCode, _p: object) -> None:
        with test.acked:
            test.acks[mid] = str(reason)
            test.acked.notify_all()

    client.on_connect = lambda _c, _u, _f, reason, _p: connected.put(reason)
    client.on_message = lambda _c, _u, msg: test.received.put(msg)
    client.on_publish = on_publish
    props = None
    if session_expiry_s is not None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = session_expiry_s
    client.connect(
        endpoint.host,
        endpoint.port,
        keepalive=30,
        clean_start=session_expiry_s is None,
        properties=props,
    )
    client.loop_start()
    reason = connected.get(timeout=TIMEOUT_S)
    if reason.is_failure:
        client.loop_stop()
        raise ConnectionRefusedError(str(reason))
    return test
