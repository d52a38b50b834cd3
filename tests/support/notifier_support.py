"""Customers, devices and findings for notifier tests, and settings that point at them."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from devicecare.config import Settings, load_settings
from devicecare.contracts.vocabulary import FaultKind, Severity
from devstack import local
from notifier.store import attach, create_customer

BASE = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
"""A Monday noon (UTC): outside quiet hours in Europe and in UTC."""
LINK_SECRET = "link-secret-for-tests"
REASON = "Battery capacity fell from 96% to 81% in three weeks, twice as fast as similar phones."


def notifier_settings(stack: Settings, **notifier: Any) -> Settings:
    return local.fill(
        load_settings(state_dir=stack.state_dir, notifier={"link_secret": LINK_SECRET} | notifier)
    )


def add_owner(
    db: psycopg.Connection,
    device_id: str,
    *,
    locale: str = "en",
    timezone: str = "UTC",
    email: str | None = "owner@example.invalid",
    consent: bool = True,
    email_consent: bool = True,
    model: str | None = "Pixel 7",
) -> str:
    """A device with an owner who consented (or not); returns the customer id."""
    customer = create_customer(db, name="Alex Owner", email=email, locale=locale, timezone=timezone)
    add_device(db, device_id, consent=consent, email_consent=email_consent, model=model)
    attach(db, device_id, customer)
    return customer


def add_device(
    db: psycopg.Connection,
    device_id: str,
    *,
    consent: bool = True,
    email_consent: bool = True,
    model: str | None = "Pixel 7",
) -> None:
    db.execute(
        "INSERT INTO devices (device_id, model, consent_telemetry, consent_care_offers,"
        " consent_email) VALUES (%s, %s, %s, %s, %s)",
        (device_id, model, consent, consent, email_consent),
    )


def add_finding(
    db: psycopg.Connection,
    device_id: str,
    fault_kind: str = FaultKind.BATTERY_FADE,
    *,
    severity: Severity = Severity.MEDIUM,
    confidence: float = 0.9,
    detected_at: datetime = BASE,
    reason: str = REASON,
    evidence: dict | None = None,
) -> int:
    row = db.execute(
        "INSERT INTO findings (device_id, fault_kind, severity, confidence, onset_at,"
        " detected_at, detector, reason, evidence) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " RETURNING finding_id",
        (
            device_id,
            fault_kind,
            severity,
            confidence,
            detected_at,
            detected_at,
            "test-detector",
            reason,
            Jsonb(evidence or {}),
        ),
    ).fetchone()
    assert row is not None
    return row[0]


def offers(db: psycopg.Connection, device_id: str | None = None) -> list[dict]:
    with db.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT * FROM offers WHERE %(d)s::text IS NULL OR device_id = %(d)s"
            " ORDER BY created_at, offer_id",
            {"d": device_id},
        ).fetchall()


def suppressions(db: psycopg.Connection) -> Counter[str]:
    return Counter(r[0] for r in db.execute("SELECT reason FROM offer_suppressions").fetchall())


def timeline(db: psycopg.Connection, device_id: str) -> list[str]:
    rows = db.execute(
        "SELECT kind FROM interactions WHERE device_id = %s ORDER BY ts, interaction_id",
        (device_id,),
    ).fetchall()
    return [r[0] for r in rows]
