"""The MQTT side of ingest: a shared, persistent subscription with manual acknowledgement.

paho's network thread only hands messages to a bounded queue; when the queue is full
it blocks, the socket stops being read and the broker holds the rest (back-pressure,
bounded memory). A message is acknowledged only after the transaction holding its rows
committed. Messages are tagged with the connection they came on: after a reconnect the
broker re-delivers what was not acknowledged, so acks of the old connection are dropped.
"""

from __future__ import annotations

import logging
import queue
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from devicecare.contracts import topics
from devicecare.mqttclient import MqttEndpoint, new_client
from ingest.intake import Inbound

log = logging.getLogger(__name__)


class Consumer:
    def __init__(
        self,
        endpoint: MqttEndpoint,
        client_id: str,
        *,
        group: str,
        queue_max: int,
        session_expiry_s: int,
    ) -> None:
        self.endpoint = endpoint
        self.group = group
        self.inbox: queue.Queue[Inbound] = queue.Queue(maxsize=queue_max)
        self.generation = 0
        self.connected = threading.Event()
        self.session_expiry_s = session_expiry_s
        self.receive_maximum = min(65535, queue_max)
        client = new_client(endpoint, client_id)
        client.manual_ack_set(True)
        client.reconnect_delay_set(0.5, 10)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        self.client = client

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry_s
        props.ReceiveMaximum = self.receive_maximum
        self.client.connect_async(
            self.endpoint.host,
            self.endpoint.port,
            keepalive=30,
            clean_start=False,
            properties=props,
        )
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def ack(self, messages: list[Inbound]) -> int:
        """Acknowledge committed messages of the current connection; return how many."""
        current = self.generation
        done = 0
        for message in messages:
            if message.generation == current:
                self.client.ack(message.mid, message.qos)
                done += 1
        return done

    def _on_connect(
        self,
        client: mqtt.Client,
        _u: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _p: object,
    ) -> None:
        if reason.is_failure:
            log.error("broker refused ingest: %s", reason)
            return
        self.generation += 1
        subscriptions = [
            (topics.subscription(channel, shared_group=self.group or None), 1)
            for channel in topics.UPLINK_CHANNELS
        ]
        client.subscribe(subscriptions)
        self.connected.set()
        log.info(
            "subscribed as %s (session %s)",
            self.endpoint.username,
            "resumed" if flags.session_present else "new",
        )

    def _on_subscribe(
        self, _c: mqtt.Client, _u: object, _m: int, codes: list[ReasonCode], _p: object
    ) -> None:
        refused = [str(c) for c in codes if c.is_failure]
        if refused:
            log.error("subscriptions refused: %s", refused)
        else:
            log.info("ready: %d subscriptions granted", len(codes))

    def _on_disconnect(
        self, _c: mqtt.Client, _u: object, _f: object, reason: ReasonCode, _p: object
    ) -> None:
        self.connected.clear()
        if reason.is_failure:
            log.warning("broker connection lost: %s", reason)
        else:
            log.info("disconnected from the broker: %s", reason)

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        self.inbox.put(
            Inbound(message.topic, message.payload, message.mid, self.generation, message.qos)
        )
