"""Running real ingest workers as processes, and a device that publishes raw payloads."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from devicecare.config import Settings
from devicecare.contracts import Sample, TelemetryBatch, encode

FIXED_MS = int(time.time() * 1000) - 30 * 86_400_000  # room for hours of samples


@dataclass
class IngestWorkers:
    """Ingest processes of one shared group, against one database."""

    stack: Settings
    db_url: str
    log_dir: Path
    group: str = ""
    base: int = field(default_factory=lambda: random.randint(1000, 10**6))  # noqa: S311
    procs: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return (
            os.environ
            | {
                "DEVICECARE_STATE_DIR": str(self.stack.state_dir),
                "DEVICECARE_DATABASE_URL": self.db_url,
                "DEVICECARE_INGEST__SHARED_GROUP": self.group,
                "DEVICECARE_INGEST__SESSION_EXPIRY_S": "120",
                "DEVICECARE_INGEST__METRICS_PORT": "0",
                "DEVICECARE_LOG_LEVEL": "DEBUG",
            }
            | self.extra_env
        )

    def start(self, index: int = 0) -> subprocess.Popen[bytes]:
        """Start a worker and wait until its subscriptions are granted."""
        path = self.log_dir / f"ingest-{index}.log"
        before = path.read_text().count("subscriptions granted") if path.exists() else 0
        log = path.open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "ingest", "--worker", str(self.base + index)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env(),
        )
        self.procs[index] = proc
        deadline = time.monotonic() + 30
        while path.read_text().count("subscriptions granted") <= before:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ingest worker did not start:\n{path.read_text()[-3000:]}")
            time.sleep(0.05)
        return proc

    def kill(self, index: int = 0) -> None:
        self.procs[index].send_signal(signal.SIGKILL)
        self.procs[index].wait(timeout=10)

    def stop(self, index: int = 0) -> int:
        proc = self.procs.pop(index)
        proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout=30)

    def stop_all(self) -> None:
        for index in list(self.procs):
            if self.procs[index].poll() is None:
                self.stop(index)
            else:
                self.procs.pop(index)

    def logs(self) -> str:
        return "\n".join(p.read_text()[-3000:] for p in sorted(self.log_dir.glob("ingest-*.log")))


def telemetry(device_id: str, seq: int, samples: int = 20) -> bytes:
    """A valid batch whose samples have distinct timestamps derived from seq."""
    start = FIXED_MS + seq * samples * 1000
    batch = TelemetryBatch(
        v=1,
        device_id=device_id,
        seq=seq,
        sent_at=start + samples * 1000,
        samples=[
            Sample(
                ts=start + i * 1000, battery_pct=50.0 + i % 10, cpu_temp_c=40.0, cpu_load_pct=12.5
            )
            for i in range(samples)
        ],
    )
    return encode(batch)
