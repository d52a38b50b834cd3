"""Agent footprint: resident memory, CPU per hour and bytes per sample, against a naive agent.

Starts a local broker, then runs the real agent (`devicecare agent run`, default
intervals) and a naive agent (bench/naive_agent.py: same collectors, one JSON message
per reading) side by side on the same simulated phone for a fixed period. Start-up is
counted apart: CPU is measured from a few seconds after start to the end. Bytes are
what each device published (MQTT PUBLISH packets: header, topic, packet id, payload).

    .venv/bin/python bench/agent_footprint.py [--minutes 11]

The last line is one JSON object with the figures and their ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from rich.console import Console
from rich.table import Table

from agent.consent import Consent, record
from agent.store import Store
from devicecare.config import Settings, load_settings
from devicecare.contracts import Channel, TelemetryBatch, decode, topics
from devicecare.contracts.accounts import ServiceAccount
from devicecare.endpoints import mqtt_endpoint
from devicecare.mqttclient import new_client
from devstack import local

ROOT = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")
STARTUP_S = 5.0
PUBLISH_OVERHEAD = 2 + 2 + 2 + 1  # fixed header (<128 B), topic length, packet id, properties


class Phone:
    """A simulated phone's /sys and /proc that change every second, as real ones do."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pct = 90.0
        self.ticks = [1000, 9000]
        self.stop = threading.Event()
        for path in ("data", "var/crash"):
            (root / path).mkdir(parents=True, exist_ok=True)
        self._write_static()
        self.update()

    def _put(self, path: str, value: object) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f"{value}\n")

    def _write_static(self) -> None:
        bat = "sys/class/power_supply/battery/"
        for name, value in {
            "type": "Battery",
            "charge_full": 3650000,
            "charge_full_design": 4000000,
            "voltage_min_design": 3870000,
            "cycle_count": 289,
        }.items():
            self._put(bat + name, value)
        for i, kind in enumerate(("cpu-0-0", "gpu", "battery", "skin")):
            self._put(f"sys/class/thermal/thermal_zone{i}/type", kind)
        self._put("sys/class/thermal/cooling_device0/type", "thermal-cpufreq-0")

    def update(self) -> None:
        rnd = random.Random()  # noqa: S311 - sensor noise, not secrets
        self.pct = max(5.0, self.pct - rnd.uniform(0, 0.02))
        bat = "sys/class/power_supply/battery/"
        self._put(bat + "status", "Discharging")
        self._put(bat + "capacity", int(self.pct))
        self._put(bat + "voltage_now", int(3_700_000 + self.pct * 5000 + rnd.randint(-9000, 9000)))
        self._put(bat + "current_now", rnd.randint(200_000, 900_000))
        self._put(bat + "temp", rnd.randint(290, 340))
        for i, base in enumerate((45000, 41000, 31000, 33000)):
            self._put(f"sys/class/thermal/thermal_zone{i}/temp", base + rnd.randint(-3000, 3000))
        self._put("sys/class/thermal/cooling_device0/cur_state", rnd.choice((0, 0, 0, 1)))
        self.ticks[0] += rnd.randint(10, 60)
        self.ticks[1] += 100
        self._put("proc/stat", f"cpu  {self.ticks[0]} 0 0 {self.ticks[1]} 0 0 0 0 0 0")

    def run(self) -> None:
        while not self.stop.wait(1.0):
            self.update()


@dataclass
class Traffic:
    bytes: int = 0
    messages: int = 0
    stamps: set[int] = field(default_factory=set)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def memory_mb(pid: int) -> tuple[float, float]:
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024


def write_config(path: Path, device_id: str, url: str, password: str, root: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'device_id = "{device_id}"\nmqtt_url = "{url}"\npassword = "{password}"\n'
        f'root = "{root}"\nmounts = ["/data"]\ncrash_dirs = ["/var/crash"]\n'
    )
    return path


def listen(settings: Settings, names: dict[str, str]) -> tuple[mqtt.Client, dict[str, Traffic]]:
    """Count what each bench device publishes, as the ingest service sees it."""
    traffic = {kind: Traffic() for kind in names}
    kind_of = {device: kind for kind, device in names.items()}
    endpoint = mqtt_endpoint(settings, ServiceAccount.INGEST)
    listener = new_client(endpoint, "bench-listener")

    def on_message(_c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        where = topics.parse(message.topic)
        seen = traffic[kind_of[where.device_id]]
        seen.bytes += PUBLISH_OVERHEAD + len(message.topic) + len(message.payload)
        seen.messages += 1
        if where.channel is not Channel.TELEMETRY:
            return
        if kind_of[where.device_id] == "naive":
            seen.stamps.add(json.loads(message.payload)["ts"])
        else:
            batch = decode(where, message.payload)
            assert isinstance(batch, TelemetryBatch)
            seen.stamps.update(s.ts for s in batch.samples)

    listener.on_message = on_message
    listener.connect(endpoint.host, endpoint.port)
    for channel in topics.UPLINK_CHANNELS:
        listener.subscribe(topics.subscription(channel), qos=1)
    listener.loop_start()
    return listener, traffic


def start(
    settings: Settings, work: Path, phone: Phone, names: dict[str, str]
) -> dict[str, subprocess.Popen[bytes]]:
    """Both agents, on the same phone, each with its own device account."""
    passwords = local.provision_devices(settings, list(names.values()))
    endpoint = mqtt_endpoint(settings, ServiceAccount.INGEST)
    url = f"mqtt://{endpoint.host}:{endpoint.port}"
    configs = {
        kind: write_config(work / kind / "agent.toml", device, url, passwords[device], phone.root)
        for kind, device in names.items()
    }
    store = Store(configs["agent"].parent / "agent.db", 8 << 20)
    record(store, names["agent"], Consent(telemetry=True, care_offers=True))
    store.close()
    commands = {
        "agent": [
            sys.executable,
            "-m",
            "cli",
            "agent",
            "run",
            "--config",
            str(configs["agent"]),
        ],
        "naive": [sys.executable, str(ROOT / "bench/naive_agent.py"), str(configs["naive"])],
    }
    return {
        kind: subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=(work / f"{kind}.log").open("wb")
        )
        for kind, argv in commands.items()
    }


def report(
    names: dict[str, str],
    traffic: dict[str, Traffic],
    used: dict[str, float],
    memory: dict[str, tuple[float, float]],
    period: float,
) -> dict[str, object]:
    figures = {}
    for kind in names:
        samples = max(len(traffic[kind].stamps), 1)
        figures[kind] = {
            "rss_mb": round(memory[kind][0], 1),
            "peak_rss_mb": round(memory[kind][1], 1),
            "cpu_s_per_hour": round(used[kind] / period * 3600, 2),
            "bytes_per_sample": round(traffic[kind].bytes / samples, 1),
            "samples": len(traffic[kind].stamps),
            "messages": traffic[kind].messages,
        }
    table = Table("", "DeviceCare agent", "naive (1 message per reading)", "naive / ours")
    for key, ours in figures["agent"].items():
        naive = figures["naive"][key]
        table.add_row(key, str(ours), str(naive), f"{naive / ours:.2f}" if ours else "-")
    Console().print(table)
    return {
        **figures["agent"],
        **{f"naive_{k}": v for k, v in figures["naive"].items()},
        "bytes_ratio": round(
            figures["naive"]["bytes_per_sample"] / figures["agent"]["bytes_per_sample"], 2
        ),
        "period_s": period,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=11.0, help="measured period")
    period = parser.parse_args().minutes * 60
    work = Path(tempfile.mkdtemp(prefix="devicecare-bench-"))
    work.chmod(0o755)
    settings = load_settings(state_dir=work / "state")
    names = {"agent": "bench-agent", "naive": "bench-naive"}
    phone = Phone(work / "phone")
    threading.Thread(target=phone.run, daemon=True).start()
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        local.up(settings)
        settings = local.fill(settings)
        listener, traffic = listen(settings, names)
        procs = start(settings, work, phone, names)
        time.sleep(STARTUP_S)
        begin = {k: cpu_seconds(p.pid) for k, p in procs.items()}
        print(f"start-up done; measuring for {period:.0f} s", flush=True)
        time.sleep(period)
        used = {k: cpu_seconds(p.pid) - begin[k] for k, p in procs.items()}
        memory = {k: memory_mb(p.pid) for k, p in procs.items()}
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            proc.wait(timeout=30)
        time.sleep(1)
        listener.loop_stop()
        listener.disconnect()
    finally:
        phone.stop.set()
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
        local.down(settings)
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(report(names, traffic, used, memory, period)))


if __name__ == "__main__":
    main()
