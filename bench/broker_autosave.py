"""What saving on every change costs the broker while ingest is down.

The local stack's Mosquitto writes its whole database after every change, so that a
kill -9 loses at most what it acknowledged in its last loop iteration (docs/design.md).
Each write is a full snapshot, so the cost per message grows with the queue. In one
run, two brokers with the same accounts and roles take the same QoS 1 messages from one
device for an ingest session that is offline (everything is queued):

1. the local stack's broker (`autosave_on_changes true`, `autosave_interval 1`);
2. the same configuration with a 30 s periodic save (the earlier setting), the baseline.

    .venv/bin/python bench/broker_autosave.py [--messages 20000] [--size 1000]

The last line is one JSON object with the rates and their ratio.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from devicecare.config import Settings, load_settings
from devicecare.contracts import Channel, topics
from devicecare.contracts.accounts import ServiceAccount
from devicecare.endpoints import mqtt_endpoint
from devicecare.mqttclient import MqttEndpoint, new_client
from devstack import local, processes
from devstack.state import stack_dir
from tests.support.mqtt_clients import connect

DEVICE = "bench-autosave"
console = Console()


def baseline_broker(settings: Settings, work: Path) -> tuple[int, int]:
    """A copy of the stack's broker that saves every 30 s; returns (pid, port)."""
    source = stack_dir(settings) / "mosquitto"
    folder = work / "baseline"
    (folder / "data").mkdir(parents=True)
    shutil.copy(source / "dynamic-security.json", folder / "dynamic-security.json")
    port = processes.free_port("127.0.0.1")
    replaced = {
        "listener": f"listener {port} 127.0.0.1",
        "persistence_location": f"persistence_location {folder / 'data'}/",
        "plugin_opt_config_file": f"plugin_opt_config_file {folder / 'dynamic-security.json'}",
        "autosave_on_changes": None,
        "autosave_interval": "autosave_interval 30",
    }
    lines = []
    for line in (source / "mosquitto.conf").read_text().splitlines():
        new = replaced.get(line.split(" ", 1)[0], line)
        if new is not None:
            lines.append(new)
    (folder / "mosquitto.conf").write_text("\n".join(lines) + "\n")
    user = processes.service_user("mosquitto")
    processes.give_to(user, folder, folder / "data", *folder.iterdir())
    proc = processes.spawn(["mosquitto", "-c", str(folder / "mosquitto.conf")], folder / "log")
    deadline = time.monotonic() + 10
    while not processes.port_open("127.0.0.1", port):
        if time.monotonic() > deadline:
            raise RuntimeError(processes.tail(folder / "log"))
        time.sleep(0.05)
    return proc.pid, port


def queue_rate(ingest: MqttEndpoint, device: MqttEndpoint, messages: int, size: int) -> float:
    """Messages per second the broker acknowledges while queueing them for offline ingest."""
    client_id = ServiceAccount.INGEST.client_id("bench")
    offline = connect(ingest, client_id, session_expiry_s=3600)
    offline.subscribe(topics.topic(DEVICE, Channel.TELEMETRY))
    offline.close()
    done = threading.Semaphore(0)
    client = new_client(device, DEVICE)
    client.max_inflight_messages_set(100)
    client.max_queued_messages_set(0)
    client.on_publish = lambda *_: done.release()
    client.connect(device.host, device.port)
    client.loop_start()
    payload = b"x" * size
    started = time.perf_counter()
    for _ in range(messages):
        client.publish(topics.topic(DEVICE, Channel.TELEMETRY), payload, qos=1)
    for _ in range(messages):
        done.acquire()
    elapsed = time.perf_counter() - started
    client.disconnect()
    client.loop_stop()
    return messages / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--size", type=int, default=1000, help="payload bytes")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="devicecare-bench-autosave-"))
    work.chmod(0o755)
    unused_db = "postgresql://unused:unused@127.0.0.1:1/unused"
    settings = load_settings(state_dir=work / "state", database_url=unused_db)
    pid = None
    try:
        local.up(settings)
        settings = local.fill(settings)
        local.provision_devices(settings, [DEVICE])
        ingest, device = (
            mqtt_endpoint(settings, ServiceAccount.INGEST),
            mqtt_endpoint(settings, DEVICE),
        )
        pid, port = baseline_broker(settings, work)
        on_change = queue_rate(ingest, device, args.messages, args.size)
        console.print(f"save on every change: {on_change:,.0f} messages/s")
        periodic = queue_rate(
            replace(ingest, port=port), replace(device, port=port), args.messages, args.size
        )
        console.print(f"save every 30 s (baseline): {periodic:,.0f} messages/s")
    finally:
        if pid is not None:
            processes.stop(pid, "mosquitto", signal.SIGTERM, timeout_s=10)
        local.down(settings)
        shutil.rmtree(work, ignore_errors=True)
    print(
        json.dumps(
            {
                "messages_queued": args.messages,
                "payload_bytes": args.size,
                "save_on_change_msg_s": round(on_change),
                "save_every_30s_msg_s": round(periodic),
                "save_on_change_vs_baseline": round(on_change / periodic, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
