"""Retained device config from the API: how a consent change reaches the device.

When the owner withdraws telemetry consent through the API, the device's retained
`config` topic gets a `DeviceConfig` with every collector off (on again when consent is
given back), so the agent stops collecting even if it was offline at the time: it gets
the retained message when it reconnects. The API publishes as the notifier's service
account, which may write every downlink topic.
"""

from __future__ import annotations

import logging
import socket
import threading
from datetime import datetime

from devicecare.config import Settings
from devicecare.contracts import Channel, CollectorConfig, DeviceConfig, encode, topics
from devicecare.contracts.payloads import CollectorName
from devicecare.endpoints import mqtt_endpoint
from devicecare.errors import DeviceCareError
from devicecare.mqttclient import MqttEndpoint, new_client
from devicecare.stack.mosquitto import ServiceAccount

log = logging.getLogger(__name__)


def consent_config(telemetry: bool, at: datetime) -> DeviceConfig:
    """The config for a consent state; the revision is the change's time (seconds)."""
    collectors = {name: CollectorConfig(enabled=telemetry) for name in CollectorName}
    return DeviceConfig(v=1, revision=int(at.timestamp()), collectors=collectors)


class ConfigPublisher:
    """Publishes one retained config per call (QoS 1), connecting for each; consent
    changes are rare, so a standing connection is not worth its upkeep."""

    def __init__(self, endpoint: MqttEndpoint | None, timeout_s: float = 10.0) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s

    @classmethod
    def from_settings(cls, settings: Settings) -> ConfigPublisher:
        try:
            endpoint = mqtt_endpoint(settings, ServiceAccount.NOTIFIER)
        except DeviceCareError as exc:
            log.warning("device config downlink off: %s", exc)
            endpoint = None
        return cls(endpoint, settings.notifier.mqtt_timeout_s)

    def publish(self, device_id: str, config: DeviceConfig) -> str | None:
        """Publish; None when the broker acknowledged, else why not."""
        if self.endpoint is None:
            return "no broker configured"
        connected = threading.Event()
        client = new_client(self.endpoint, f"_notifier-api-{socket.gethostname()}-{id(self):x}")
        client.on_connect = lambda *_a: connected.set()
        try:
            client.connect(self.endpoint.host, self.endpoint.port, keepalive=30)
            client.loop_start()
            if not connected.wait(self.timeout_s):
                return "no CONNACK from the broker"
            info = client.publish(
                topics.topic(device_id, Channel.CONFIG), encode(config), qos=1, retain=True
            )
            info.wait_for_publish(self.timeout_s)
            return None if info.is_published() else "no PUBACK in time"
        except (OSError, ValueError, RuntimeError) as exc:
            return f"broker unreachable: {exc}"
        finally:
            client.disconnect()
            client.loop_stop()
