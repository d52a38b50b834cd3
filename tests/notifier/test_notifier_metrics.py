"""The notifier's `/metrics`, scraped from the real endpoint: offers by status,
deliveries and failed attempts by channel, suppressions by reason."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devicecare.config import Settings
from devicecare.contracts.vocabulary import FaultKind, OfferStatus
from devstack import processes
from notifier.service import Notifier
from tests.support.local_servers import WebhookReceiver
from tests.support.notifier_support import BASE, add_finding, add_owner, notifier_settings
from tests.support.polling import wait_for

pytestmark = pytest.mark.integration

SECRET = "webhook-secret"


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def reachable(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """What `scrape` finds, or nothing while the loop has not yet bound its port."""
    try:
        return scrape(port)
    except urllib.error.URLError:
        return {}


def test_the_notify_loop_serves_offers_deliveries_and_suppressions(
    stack: Settings, db_url: str, db: psycopg.Connection
) -> None:
    add_owner(db, "watched")
    add_owner(db, "no-consent", consent=False)
    now = datetime.now(UTC)
    add_finding(db, "watched", FaultKind.CRASH_LOOP, detected_at=now)
    add_finding(db, "no-consent", FaultKind.CRASH_LOOP, detected_at=now)
    port = processes.free_port("127.0.0.1")
    with WebhookReceiver(SECRET.encode()) as receiver:
        settings = notifier_settings(
            stack,
            channels=["webhook"],
            webhook_url=receiver.url,
            webhook_secret=SECRET,
            metrics_port=port,
            quiet_hours_start="00:00",
            quiet_hours_end="00:00",
        )
        notifier = Notifier(settings, database=db_url)
        stop = threading.Event()
        loop = threading.Thread(target=notifier.run, args=(stop,))
        loop.start()
        try:
            wait_for(
                lambda: (
                    reachable(port).get(
                        ("devicecare_notifier_deliveries_total", (("channel", "webhook"),))
                    )
                    == 1
                ),
                what="one delivery on the webhook",
            )
            metrics = scrape(port)
        finally:
            stop.set()
            loop.join(timeout=30)
    assert not loop.is_alive()
    offers = {
        labels[0][1]: value
        for (name, labels), value in metrics.items()
        if name == "devicecare_notifier_offers"
    }
    assert offers[OfferStatus.DELIVERED] == 1
    assert sum(offers.values()) == 1
    assert metrics[("devicecare_notifier_suppressions_total", (("reason", "consent"),))] == 1
    assert metrics[("devicecare_notifier_passes_total", ())] >= 1


def test_failed_attempts_are_counted_by_channel(
    stack: Settings, db_url: str, db: psycopg.Connection
) -> None:
    add_owner(db, "unreachable")
    add_finding(db, "unreachable", FaultKind.CRASH_LOOP)
    port = processes.free_port("127.0.0.1")
    dead = f"http://127.0.0.1:{processes.free_port('127.0.0.1')}/hook"
    settings = notifier_settings(
        stack, channels=["webhook"], webhook_url=dead, webhook_secret=SECRET, metrics_port=port
    )
    notifier = Notifier(settings, database=db_url)
    notifier.metrics.serve(settings.notifier.metrics_host, port)
    try:
        report = notifier.run_once(BASE)
        metrics = scrape(port)
    finally:
        notifier.close()
    assert report.delivery.failed_attempts == 1
    failed = ("devicecare_notifier_delivery_failures_total", (("channel", "webhook"),))
    assert metrics[failed] == 1
    assert ("devicecare_notifier_deliveries_total", (("channel", "webhook"),)) not in metrics
