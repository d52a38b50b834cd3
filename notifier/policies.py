"""Per-customer policies: consent and reachability, cooldown after a dismissal, the
frequency cap, and the record of every suppression with its reason."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from psycopg.types.json import Jsonb

from notifier.channels.base import OfferChannel, Recipient
from notifier.rules import RANK

REASONS = (
    "consent",
    "no_channel",
    "quiet_hours",
    "cooldown",
    "frequency_cap",
    "storm",
    "undeliverable",
)


@dataclass(frozen=True)
class Blocked:
    reason: str
    recheck_at: datetime | None = None
    detail: dict | None = None


def allowed_channels(
    channels: Sequence[OfferChannel], recipient: Recipient
) -> tuple[list[OfferChannel], Blocked | None]:
    """The channels allowed for this recipient now: consent, configured, an address.

    Every offer is built from telemetry, so it needs telemetry and care-offer consent on
    any channel; e-mail needs e-mail consent as well.
    """
    if not (recipient.consent_telemetry and recipient.consent_care_offers):
        return [], Blocked("consent", detail={"missing": _missing(recipient)})
    reachable = [c for c in channels if c.reaches(recipient)]
    allowed = [c for c in reachable if not c.needs_email_consent or recipient.consent_email]
    if allowed:
        return allowed, None
    if reachable:
        return [], Blocked("consent", detail={"missing": ["email"]})
    return [], Blocked("no_channel", detail={"configured": [c.name for c in channels]})


def _missing(recipient: Recipient) -> list[str]:
    return [
        name
        for name, given in (
            ("telemetry", recipient.consent_telemetry),
            ("care_offers", recipient.consent_care_offers),
        )
        if not given
    ]


def cooldown(
    conn: psycopg.Connection,
    *,
    device_id: str,
    fault_kind: str,
    finding_id: int,
    severity: str,
    now: datetime,
    days: float,
) -> Blocked | None:
    """A dismissed offer is not repeated for the same fault unless the severity rose.

    The same finding, once declined, gets no offer again at its severity. Another finding
    of the same fault on the device waits `days` after the last declined or unanswered
    (expired) offer, again unless it is more severe.
    """
    rows = conn.execute(
        "SELECT offer_id, finding_id, status, severity, closed_at FROM offers"
        " WHERE device_id = %s AND fault_kind = %s AND status IN ('declined', 'expired')"
        " AND closed_at <= %s ORDER BY closed_at DESC",
        (device_id, fault_kind, now),
    ).fetchall()
    window = timedelta(days=days)
    for offer_id, previous_finding, status, previous_severity, closed_at in rows:
        if RANK[severity] > RANK[previous_severity]:
            continue
        detail = {"offer_id": str(offer_id), "was": status, "closed_at": closed_at.isoformat()}
        if status == "declined" and previous_finding == finding_id:
            return Blocked("cooldown", None, detail | {"same_finding": True})
        if closed_at > now - window:
            return Blocked("cooldown", closed_at + window, detail)
    return None


def cap_usage(
    conn: psycopg.Connection,
    *,
    customer_id: object,
    device_id: str,
    now: datetime,
    window_days: float,
) -> tuple[int, datetime | None]:
    """Offers made to the customer (or, without an owner, the device) within the window,
    and when the oldest of them leaves it."""
    since = now - timedelta(days=window_days)
    who = "customer_id = %s" if customer_id is not None else "device_id = %s"
    count, oldest = conn.execute(
        f"SELECT count(*), min(created_at) FROM offers WHERE {who}"  # noqa: S608 - fixed fragment
        " AND created_at > %s AND created_at <= %s",
        (customer_id if customer_id is not None else device_id, since, now),
    ).fetchone()  # type: ignore[misc]
    return count, (oldest + timedelta(days=window_days)) if oldest else None


def record_suppression(
    conn: psycopg.Connection,
    *,
    ts: datetime,
    reason: str,
    device_id: str,
    fault_kind: str,
    severity: str,
    customer_id: object = None,
    finding_id: int | None = None,
    offer_id: object = None,
    offer_kind: str | None = None,
    alert_id: int | None = None,
    detail: dict | None = None,
) -> None:
    assert reason in REASONS, reason
    conn.execute(
        "INSERT INTO offer_suppressions (ts, reason, device_id, customer_id, finding_id,"
        " offer_id, alert_id, fault_kind, offer_kind, severity, detail)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            ts,
            reason,
            device_id,
            customer_id,
            finding_id,
            offer_id,
            alert_id,
            fault_kind,
            offer_kind,
            severity,
            Jsonb(detail or {}),
        ),
    )
