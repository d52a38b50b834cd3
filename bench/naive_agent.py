"""The naive baseline for bench/agent_footprint.py: one MQTT message per reading.

Reads the same sensors on the same intervals with the same collectors as the real
agent, and publishes every metric as its own JSON message (QoS 1) the moment it is
read: no disk queue, no batching, no compression, as simple device scripts do.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path

from agent.collectors import REGISTRY, CollectorContext
from agent.settings import load_agent_settings
from devicecare.contracts import Channel, SampleDetail, topics
from devicecare.mqttclient import new_client


def readings(values: dict[str, object]) -> list[tuple[str, object]]:
    """Every reading on its own: summary metrics, each thermal zone and each mount."""
    out = [(k, v) for k, v in values.items() if k != "detail"]
    detail = values.get("detail")
    if isinstance(detail, SampleDetail):
        out += [(f"thermal_zone.{z.name}", z.temp_c) for z in detail.zones]
        for m in detail.mounts:
            out += [
                (f"mount{m.path}.free_bytes", m.free_bytes),
                (f"mount{m.path}.total_bytes", m.total_bytes),
            ]
    return out


def main(config: Path) -> None:
    settings, _ = load_agent_settings(config)
    memory: dict[str, str] = {}
    ctx = CollectorContext(
        root=Path(settings.root),
        seen=lambda key: key in memory,
        remember=lambda keys: memory.update((k, "1") for k in keys),
        state_get=memory.get,
        state_set=memory.__setitem__,
        crash_dirs=tuple(settings.crash_dirs),
        mounts=tuple(settings.mounts),
    )
    collectors = {name: cls(ctx) for name, cls in REGISTRY.items()}
    endpoint = settings.endpoint()
    client = new_client(endpoint, settings.device_id)
    client.connect(endpoint.host, endpoint.port, keepalive=settings.keepalive_s)
    client.loop_start()
    topic = topics.topic(settings.device_id, Channel.TELEMETRY)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    due = dict.fromkeys(collectors, 0.0)
    while not stop.is_set():
        now = time.monotonic()
        ts = int(time.time() * 1000)  # one tick, one sample: as the real agent counts them
        for name, collector in collectors.items():
            if due[name] > now:
                continue
            due[name] = now + settings.collectors[name].interval_s
            for metric, value in collector.collect(ts).values.items():
                if metric == "detail":
                    continue
                message = {
                    "device_id": settings.device_id,
                    "metric": metric,
                    "value": value,
                    "ts": ts,
                }
                client.publish(topic, json.dumps(message), qos=1)
        stop.wait(max(0.0, min(due.values()) - time.monotonic()))
    client.loop_stop()
    client.disconnect()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
