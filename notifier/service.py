"""The notifier: one pass at a given time (`run_once(now)`), and the loop around it.

Every decision takes `now` from the caller, so the same code runs on the wall clock
(`devicecare notify`) and on simulated time (the end-to-end demo calls `run_once` with
the simulator's clock). A pass: answers from devices, offers whose finding resolved,
escalation of declined safety findings (notifier/tasks.py), expiry, delivery inferred
from the device being seen, new offers from open findings, delivery of what is due,
reminders. Two notifiers never run a pass at the same time
(an advisory lock); the loop wakes on `NotifyChannel.NOTIFIER` (findings or answers
changed) or after `poll_interval_s`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg

from devicecare.config import Settings
from devicecare.endpoints import database_url
from notifier import lifecycle, store, tasks
from notifier.channels import OfferChannel, configured
from notifier.delivery import Deliverer, DeliverReport
from notifier.metrics import NotifierMetrics
from notifier.proposals import Proposer, ProposeReport
from notifier.rules import RuleSet, load_rules
from notifier.signing import link_secret
from notifier.store import OfferRow

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
WAIT_SLICE_S = 1.0
MIN_GAP_S = 1.0
"""Passes are at least this far apart, however often findings change."""
RETRY_MAX_S = 30.0


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class PassReport:
    at: datetime
    skipped: bool = False
    answers: dict[str, int] = field(default_factory=dict)
    resolved: int = 0
    escalated: dict[str, int] = field(default_factory=dict)
    expired: int = 0
    delivered: int = 0
    proposals: ProposeReport = field(default_factory=ProposeReport)
    delivery: DeliverReport = field(default_factory=DeliverReport)

    @property
    def idle(self) -> bool:
        """Nothing happened in this pass."""
        p, d = self.proposals, self.delivery
        return not (
            self.answers
            or self.resolved
            or self.escalated
            or self.expired
            or self.delivered
            or p.created
            or p.superseded
            or p.suppressed
            or p.alerts
            or d.sent
            or d.deferred
            or d.held
            or d.failed_attempts
            or d.undeliverable
            or d.reminders
        )

    def summary(self) -> str:
        if self.skipped:
            return f"{self.at:%Y-%m-%d %H:%M:%S%z}: skipped (another notifier holds the lock)"
        p, d = self.proposals, self.delivery
        suppressed = ", ".join(f"{k} {v}" for k, v in sorted(p.suppressed.items())) or "none"
        return (
            f"{self.at:%Y-%m-%d %H:%M:%S%z}: {p.created} offers created, {d.sent} sent, "
            f"{d.deferred} deferred, {d.held} held, {d.failed_attempts} failed attempts, "
            f"{d.undeliverable} undeliverable, {d.reminders} reminders; "
            f"answers {dict(sorted(self.answers.items())) or 'none'}; "
            f"{self.expired} expired, {self.resolved} resolved; "
            f"escalated {dict(sorted(self.escalated.items())) or 'none'}; "
            f"suppressed: {suppressed}; "
            f"{p.alerts} fleet alerts"
        )


class Notifier:
    """Findings in, care offers out. `run_once(now)` is the whole job at one moment."""

    def __init__(
        self,
        settings: Settings,
        *,
        database: str | None = None,
        channels: Sequence[OfferChannel] | None = None,
        rules: RuleSet | None = None,
    ) -> None:
        self.settings = settings
        self.cfg = settings.notifier
        self.url = database or database_url(settings)
        self.rules = rules if rules is not None else load_rules(self.cfg.rules_file)
        self.channels = list(channels) if channels is not None else configured(settings)
        self.proposer = Proposer(self.cfg, self.rules, self.channels)
        self.deliverer = Deliverer(self.cfg, self.channels, link_secret(settings))
        self.metrics = NotifierMetrics()
        self.conn: psycopg.Connection | None = None

    def connection(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed:
            self.conn = psycopg.connect(self.url, autocommit=True)
        return self.conn

    def run_once(self, now: datetime) -> PassReport:
        """Do everything that is due at `now` (timezone-aware), and report what happened."""
        if now.tzinfo is None:
            raise ValueError("run_once needs a timezone-aware time")
        conn = self.connection()
        report = PassReport(now)
        if not store.try_lock(conn):
            report.skipped = True
            return report
        try:
            report.answers = lifecycle.process_responses(conn, now)
            report.resolved = len(lifecycle.resolve(conn, now))
            report.escalated = tasks.escalate(conn, self.rules.escalation, now)
            expired = lifecycle.expire(conn, now)
            report.expired = len(expired)
            self._after_expiry(conn, expired, now)
            report.delivered = lifecycle.infer_delivered(conn, now)
            report.proposals = self.proposer.run(conn, now)
            self.deliverer.deliver_due(conn, now, report.delivery)
            self.deliverer.remind(conn, now, report.delivery)
            self.metrics.passed(conn, report)
        finally:
            store.unlock(conn)
        return report

    def _after_expiry(
        self, conn: psycopg.Connection, expired: list[OfferRow], now: datetime
    ) -> None:
        """An offer left unanswered may be made again for its finding after the cooldown."""
        findings = [o.finding_id for o in expired if o.finding_id is not None]
        store.recheck_offered(conn, findings, now + timedelta(days=self.cfg.cooldown_days))

    def run(self, stop: threading.Event, clock: Clock = wall_clock) -> None:
        """Pass after pass until `stop` is set; woken early by new findings or answers."""
        listener: psycopg.Connection | None = None
        backoff = 1.0
        self.metrics.serve(self.cfg.metrics_host, self.cfg.metrics_port)
        log.info(
            "notifier started: channels %s, rules %s",
            [c.name for c in self.channels],
            self.rules.source,
        )
        while not stop.is_set():
            try:
                if listener is None or listener.closed:
                    listener = psycopg.connect(self.url, autocommit=True)
                    store.listen(listener)
                report = self.run_once(clock())
                log.log(logging.DEBUG if report.idle else logging.INFO, "%s", report.summary())
                backoff = 1.0
                self._wait(listener, stop)
            except psycopg.OperationalError as exc:
                log.warning("database unavailable (%s); retrying in %.0f s", exc, backoff)
                for conn in (listener, self.conn):
                    if conn is not None:
                        conn.close()
                listener = None
                stop.wait(backoff)
                backoff = min(backoff * 2, RETRY_MAX_S)
        if listener is not None:
            listener.close()
        self.close()
        log.info("notifier stopped")

    def _wait(self, listener: psycopg.Connection, stop: threading.Event) -> None:
        stop.wait(MIN_GAP_S)
        deadline = time.monotonic() + self.cfg.poll_interval_s - MIN_GAP_S
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            woken = False
            for _ in listener.notifies(timeout=min(WAIT_SLICE_S, left), stop_after=1):
                woken = True
            if woken:
                return

    def close(self) -> None:
        self.metrics.close()
        for channel in self.channels:
            channel.close()
        if self.conn is not None:
            self.conn.close()
            self.conn = None
