"""Running the real agent as a process, the way a device runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from agent.outbox import Outbox
from agent.store import Store
from devicecare.contracts import Channel, TelemetryBatch
from devicecare.mqttclient import MqttEndpoint
from tests.support import device_trees as trees

FAST = {"battery": 1, "thermal": 1, "crash": 1, "storage": 2}


def fake_device(root: Path) -> Path:
    """A device with a battery, thermal zones and CPU counters to read."""
    trees.android_battery(root)
    trees.thermal(root, throttling=False)
    trees.proc_stat(root, busy=100, idle=900)
    (root / "data").mkdir(parents=True, exist_ok=True)
    return root


def write_config(
    path: Path, device_id: str, broker: MqttEndpoint, root: Path, **extra: object
) -> Path:
    doc = {
        "device_id": device_id,
        "mqtt_url": f"mqtt://{broker.host}:{broker.port}",
        "password": broker.password,
        "root": str(root),
        "upload_interval_s": 1,
        "reconnect_min_s": 0.2,
        "reconnect_max_s": 1.0,
        "drain_batches_per_s": 20.0,
        "crash_dirs": ["/var/crash"],
        "log_level": "DEBUG",
        "collectors": {name: {"interval_s": s} for name, s in FAST.items()},
    } | extra
    lines = []
    tables = []
    for key, value in doc.items():
        if isinstance(value, dict):
            for sub, inner in value.items():
                tables.append(
                    f"[{key}.{sub}]\n"
                    + "".join(f"{k} = {json.dumps(v)}\n" for k, v in inner.items())
                )
        else:
            lines.append(f"{key} = {json.dumps(value)}\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines) + "\n".join(tables))
    return path


@dataclass
class AgentProcess:
    config: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = field(default=None)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli", "agent", *args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            check=True,
            env=os.environ | {"DEVICECARE_AGENT_CONFIG": str(self.config)},
        )

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cli", "agent", "run", "--config", str(self.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=20)

    def store(self) -> Store:
        return Store(self.config.parent / "agent.db", budget_bytes=1 << 30)

    def outbox(self) -> Outbox:
        """The agent's outbox, opened beside the running agent (SQLite allows that)."""
        device_id = tomllib.loads(self.config.read_text())["device_id"]
        return Outbox(self.store(), device_id)


def assert_exactly_once(batches: list[TelemetryBatch], agent: AgentProcess) -> int:
    """Every queued sample arrived once (re-sent batches are identical), batches in order."""
    first: dict[int, TelemetryBatch] = {}
    arrival = []
    for batch in batches:
        if batch.seq in first:
            assert first[batch.seq] == batch, f"seq {batch.seq} re-sent with other content"
        else:
            first[batch.seq] = batch
            arrival.append(batch.seq)
    assert arrival == sorted(arrival), "batches arrived out of sequence"
    stamps = [s.ts for b in first.values() for s in b.samples]
    assert len(stamps) == len(set(stamps)), "a sample arrived in two batches"
    for batch in first.values():
        assert [s.ts for s in batch.samples] == sorted(s.ts for s in batch.samples)
    outbox = agent.outbox()
    counters = outbox.store.counters()
    still_here = outbox.queued_rows(Channel.TELEMETRY)
    assert counters["dropped_samples"] == 0
    assert len(stamps) + still_here == counters["enqueued_samples"], (
        f"{len(stamps)} arrived + {still_here} queued != {counters['enqueued_samples']} collected"
    )
    return len(stamps)
