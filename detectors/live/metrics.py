"""Detector worker counters on Prometheus `/metrics`: partitions held, checkpoint age,
batches and samples scored (rate() gives samples per second), findings opened."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer


class DetectMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.partitions = Gauge(
            "devicecare_detect_partitions_held", "partitions this worker holds", registry=r
        )
        self.saved_at: float | None = None
        self.checkpoint_age = Gauge(
            "devicecare_detect_checkpoint_age_seconds",
            "since this worker last saved its checkpoints (0 before the first)",
            registry=r,
        )
        self.checkpoint_age.set_function(self._age)
        self.batches = Counter("devicecare_detect_batches_read", "feed batches read", registry=r)
        self.samples = Counter(
            "devicecare_detect_samples_scored",
            "samples scored; rate() is samples per second",
            registry=r,
        )
        self.opened = Counter("devicecare_detect_findings_opened", "findings opened", registry=r)
        self.server: WSGIServer | None = None

    def _age(self) -> float:
        return 0.0 if self.saved_at is None else time.monotonic() - self.saved_at

    def serve(self, host: str, port: int) -> None:
        """Serve `/metrics` on host:port until `close`; port 0 leaves it off."""
        if port and self.server is None:
            self.server, _ = start_http_server(port, addr=host, registry=self.registry)

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def read(self, batches: int, samples: int, opened: int) -> None:
        self.batches.inc(batches)
        self.samples.inc(samples)
        self.opened.inc(opened)

    def saved(self, partitions: int) -> None:
        self.saved_at = time.monotonic()
        self.partitions.set(partitions)
