"""Notifier counters on Prometheus `/metrics`: offers by status, deliveries and failed
attempts by channel, suppressions by reason, escalation steps, and passes.

Counters grow from what each pass reports (`PassReport`); the offers gauge is read from
the `offers` table after each pass, so it is true whichever notifier made the offers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import psycopg
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from devicecare.contracts.vocabulary import OfferStatus

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from notifier.service import PassReport

UNDELIVERABLE = "undeliverable"
"""The suppression reason of an offer every allowed channel failed (as the delivery records it)."""

_OFFERS_BY_STATUS = "SELECT status, count(*)::int FROM offers GROUP BY status"


class NotifierMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.passes = Counter("devicecare_notifier_passes", "passes run", registry=r)
        self.offers = Gauge(
            "devicecare_notifier_offers",
            "offers in the database, by status",
            ["status"],
            registry=r,
        )
        self.deliveries = Counter(
            "devicecare_notifier_deliveries", "offers sent, by channel", ["channel"], registry=r
        )
        self.failures = Counter(
            "devicecare_notifier_delivery_failures",
            "failed delivery attempts, by channel",
            ["channel"],
            registry=r,
        )
        self.suppressions = Counter(
            "devicecare_notifier_suppressions",
            "findings or offers held back, by reason",
            ["reason"],
            registry=r,
        )
        self.escalations = Counter(
            "devicecare_notifier_escalations",
            "escalation steps taken for declined safety findings, by step",
            ["step"],
            registry=r,
        )
        for status in OfferStatus:
            self.offers.labels(status.value).set(0)
        self.server: WSGIServer | None = None

    def serve(self, host: str, port: int) -> None:
        """Serve `/metrics` on host:port until `close`; port 0 leaves it off."""
        if port and self.server is None:
            self.server, _ = start_http_server(port, addr=host, registry=self.registry)

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def passed(self, conn: psycopg.Connection, report: PassReport) -> None:
        """Count what one pass did, and read the offers by status."""
        if report.skipped:
            return
        self.passes.inc()
        for channel, sent in report.delivery.by_channel.items():
            self.deliveries.labels(channel).inc(sent)
        for channel, failed in report.delivery.failed_by_channel.items():
            self.failures.labels(channel).inc(failed)
        for reason, count in report.proposals.suppressed.items():
            self.suppressions.labels(reason).inc(count)
        if report.delivery.undeliverable:
            self.suppressions.labels(UNDELIVERABLE).inc(report.delivery.undeliverable)
        for step, count in report.escalated.items():
            self.escalations.labels(step).inc(count)
        counts = dict(conn.execute(_OFFERS_BY_STATUS).fetchall())
        for status in OfferStatus:
            self.offers.labels(status.value).set(counts.get(status.value, 0))
