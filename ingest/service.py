"""`devicecare ingest`: the loop that fills flushes, writes them and acknowledges.

A flush closes when it holds `flush_max_samples` samples or `flush_interval_ms` after its
first message. While the database is unreachable the same flush is retried with
back-off and nothing more is taken from the queue, so memory stays bounded and the
broker keeps the rest; writing resumes by itself. SIGTERM: what was received is
written and acknowledged, then the worker disconnects.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

import psycopg

from devicecare.config import Settings
from devicecare.contracts import topics
from devicecare.contracts.accounts import ServiceAccount
from devicecare.endpoints import database_url, mqtt_endpoint
from devicecare.errors import ContractError
from ingest.consumer import Consumer
from ingest.intake import DeadLetter, Flush, Inbound
from ingest.metrics import Metrics, worker_name
from ingest.writer import Writer, Written

log = logging.getLogger(__name__)

IDLE_WAIT_S = 0.5


class IngestService:
    def __init__(self, settings: Settings, index: int = 0) -> None:
        self.cfg = settings.ingest
        self.worker = worker_name(index)
        self.consumer = Consumer(
            mqtt_endpoint(settings, ServiceAccount.INGEST),
            ServiceAccount.INGEST.client_id(self.worker),
            group=self.cfg.shared_group,
            queue_max=self.cfg.queue_max_messages,
            session_expiry_s=self.cfg.session_expiry_s,
        )
        self.writer = Writer(
            database_url(settings), register_unknown=self.cfg.unknown_devices == "register"
        )
        self.metrics = Metrics(self.worker)

    def run(self, stop: threading.Event) -> None:
        self.metrics.serve(self.cfg.metrics_host, self.cfg.metrics_port)
        self.consumer.start()
        log.info("ingest worker %s started", self.worker)
        flush = Flush()
        backoff = 0.2
        try:
            while True:
                stopping = stop.is_set()
                if not stopping:
                    self._fill(flush, stop)
                if len(flush):
                    try:
                        self._write(flush)
                    except psycopg.OperationalError as exc:
                        self.metrics.database_up.set(0)
                        log.warning("database unavailable (%s); retrying in %.1f s", exc, backoff)
                        time.sleep(backoff)
                        backoff = min(backoff * 2, self.cfg.retry_max_s)
                        continue
                    flush = Flush()
                    backoff = 0.2
                    self._health()
                elif stopping:
                    if not self._drain(flush):
                        break
                else:
                    self._health()
        finally:
            self._health(force=True)
            self.consumer.stop()
            self.writer.close()
            log.info("ingest worker %s stopped", self.worker)

    def _fill(self, flush: Flush, stop: threading.Event) -> None:
        inbox = self.consumer.inbox
        if not len(flush):
            try:
                flush.accept(inbox.get(timeout=IDLE_WAIT_S))
            except queue.Empty:
                return
        deadline = time.monotonic() + self.cfg.flush_interval_ms / 1000
        limit = self.cfg.flush_max_samples
        while flush.samples < limit and len(flush) < self.cfg.queue_max_messages:
            timeout = deadline - time.monotonic()
            if timeout <= 0 or stop.is_set():
                return
            try:
                flush.accept(inbox.get(timeout=min(timeout, IDLE_WAIT_S)))
            except queue.Empty:
                continue

    def _drain(self, flush: Flush) -> bool:
        """On the way out: take what was already delivered, without waiting. False: none."""
        for _ in range(self.consumer.inbox.qsize()):
            try:
                flush.accept(self.consumer.inbox.get_nowait())
            except queue.Empty:
                break
        return bool(len(flush))

    def _write(self, flush: Flush) -> None:
        started = time.monotonic()
        try:
            written = self.writer.write(flush)
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            log.error("the database refused a flush (%s); writing its messages one by one", exc)
            written = self._isolate(flush)
        now = time.monotonic()
        self.consumer.ack(flush.messages)
        lag = max(now - m.received for m in flush.messages)
        reasons = [d.reason for d in flush.dead]
        self.metrics.flushed(written, reasons, len(flush), now - started, lag)

    def _isolate(self, flush: Flush) -> Written:
        """Find the message the database refuses; it becomes a dead letter, the rest is kept.

        Afterwards `flush.dead` holds every dead letter written, for the counters.
        """
        totals = Written()
        dead: list[DeadLetter] = []
        for inbound in flush.messages:
            single = Flush()
            single.accept(inbound)
            try:
                written = self.writer.write(single)
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                single = _rejected(inbound, exc)
                written = self.writer.write(single)
            dead += single.dead
            totals += written
        flush.dead[:] = dead
        return totals

    def _health(self, *, force: bool = False) -> None:
        conn = self.writer.conn
        if conn is None or conn.closed:
            return
        interval = 0.0 if force else self.cfg.health_interval_s
        try:
            self.metrics.write_health(conn, self.consumer.inbox.qsize(), interval)
        except psycopg.Error as exc:
            log.warning("could not write pipeline health: %s", exc)
            conn.rollback()
        self.metrics.queued.set(self.consumer.inbox.qsize())


def _rejected(inbound: Inbound, exc: psycopg.Error) -> Flush:
    """The dead letter of a message the database refused, with its device id."""
    try:
        device_id: str | None = topics.parse(inbound.topic).device_id
    except ContractError:
        device_id = None
    flush = Flush(messages=[inbound])
    flush.dead.append(DeadLetter.of(inbound, "database_rejected", str(exc), device_id))
    return flush
