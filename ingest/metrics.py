"""Ingest counters: Prometheus /metrics, and the pipeline_health row Grafana reads."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from ingest.writer import Written


@dataclass
class Totals:
    received: int = 0
    stored_samples: int = 0
    stored_events: int = 0
    batches: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    dropped_no_consent: int = 0
    flushes: int = 0
    last_flush_ms: float | None = None
    lag_ms: float | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class Metrics:
    def __init__(self, worker: str) -> None:
        self.worker = worker
        self.totals = Totals()
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter("devicecare_ingest_received", "messages received", registry=r)
        self.samples = Counter("devicecare_ingest_samples_stored", "samples stored", registry=r)
        self.events = Counter("devicecare_ingest_events_stored", "events stored", registry=r)
        self.batches = Counter("devicecare_ingest_batches_stored", "new batches", registry=r)
        self.duplicates = Counter(
            "devicecare_ingest_duplicates", "batches received again and skipped", registry=r
        )
        self.dead = Counter(
            "devicecare_ingest_dead_letters", "messages rejected", ["reason"], registry=r
        )
        self.dropped_no_consent = Counter(
            "devicecare_ingest_dropped_no_consent",
            "telemetry and event messages dropped: the device's telemetry consent is withdrawn",
            registry=r,
        )
        self.flush_seconds = Histogram(
            "devicecare_ingest_flush_seconds", "one flush: write and commit", registry=r
        )
        self.lag = Gauge(
            "devicecare_ingest_lag_seconds",
            "oldest message of the last flush: from receipt to commit",
            registry=r,
        )
        self.queued = Gauge("devicecare_ingest_queued_messages", "waiting in memory", registry=r)
        self.database_up = Gauge("devicecare_ingest_database_up", "1 when writes work", registry=r)
        self.database_up.set(1)
        self.last_health = 0.0

    def serve(self, host: str, port: int) -> None:
        if port:
            start_http_server(port, addr=host, registry=self.registry)

    def flushed(
        self, written: Written, reasons: list[str], messages: int, seconds: float, lag: float
    ) -> None:
        t = self.totals
        t.received += messages
        t.stored_samples += written.samples
        t.stored_events += written.events
        t.batches += written.batches
        t.duplicates += written.duplicates
        t.dead_lettered += written.dead
        t.dropped_no_consent += written.dropped_no_consent
        t.flushes += 1
        t.last_flush_ms = seconds * 1000
        t.lag_ms = lag * 1000
        self.received.inc(messages)
        self.samples.inc(written.samples)
        self.events.inc(written.events)
        self.batches.inc(written.batches)
        self.duplicates.inc(written.duplicates)
        self.dropped_no_consent.inc(written.dropped_no_consent)
        for reason in reasons:
            self.dead.labels(reason).inc()
        self.flush_seconds.observe(seconds)
        self.lag.set(lag)
        self.database_up.set(1)

    def write_health(self, conn: psycopg.Connection, queued: int, interval_s: float) -> None:
        """Upsert this worker's pipeline_health row, at most every `interval_s`."""
        now = time.monotonic()
        if now - self.last_health < interval_s:
            return
        self.last_health = now
        t = self.totals
        conn.execute(
            "INSERT INTO pipeline_health (worker, started_at, updated_at, received, stored_samples,"
            " stored_events, batches, duplicates, dead_lettered, dropped_no_consent, flushes,"
            " last_flush_ms, lag_ms, queued_messages, database_up) VALUES (%s, %s, now(), %s,"
            " %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, true)"
            " ON CONFLICT (worker) DO UPDATE SET updated_at = now(),"
            " received = excluded.received, stored_samples = excluded.stored_samples,"
            " stored_events = excluded.stored_events, batches = excluded.batches,"
            " duplicates = excluded.duplicates, dead_lettered = excluded.dead_lettered,"
            " dropped_no_consent = excluded.dropped_no_consent,"
            " flushes = excluded.flushes, last_flush_ms = excluded.last_flush_ms,"
            " lag_ms = excluded.lag_ms, queued_messages = excluded.queued_messages,"
            " database_up = true, started_at = excluded.started_at",
            (
                self.worker,
                t.started_at,
                t.received,
                t.stored_samples,
                t.stored_events,
                t.batches,
                t.duplicates,
                t.dead_lettered,
                t.dropped_no_consent,
                t.flushes,
                t.last_flush_ms,
                t.lag_ms,
                queued,
            ),
        )
        conn.commit()


def worker_name(index: int) -> str:
    return f"ingest-{socket.gethostname()}-{index}"
