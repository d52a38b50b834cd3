"""Everything the notifier keeps in TimescaleDB: its named queries and typed rows.

The notifier's decisions (`policies`, `storm`, `quiet`, `rules`, `proposals`) are pure
functions over the rows defined here; this module is the only one in the notifier that
holds SQL. Each query is a named constant with named parameters, rows come back as
frozen dataclasses (psycopg's `class_row`) with the vocabulary's enums, and the column
lists are composed with `psycopg.sql` from the dataclasses' fields, so a column added to
a table by a later migration does not break a row type. Every function runs in the
caller's transaction unless it says otherwise.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from devicecare.contracts.vocabulary import (
    Answer,
    FeedbackVerdict,
    FindingStatus,
    NotifyChannel,
    OfferStatus,
    Severity,
    TaskStatus,
    TouchPoint,
)
from notifier.channels.base import Purpose, Recipient
from notifier.rules import Finding

DecisionOutcome = Literal["offered", "suppressed", "no_offer"]
"""What the notifier decided on a finding (`notifier_decisions.outcome`)."""


LOCK_KEY = 0x44634E6F  # "DcNo"
"""The advisory lock that keeps two notifiers from running a pass at the same time."""


def try_lock(conn: psycopg.Connection) -> bool:
    """Take the notifier's advisory lock (session level); False when another holds it."""
    row = conn.execute("SELECT pg_try_advisory_lock(%(key)s)", {"key": LOCK_KEY}).fetchone()
    return bool(row and row[0])


def unlock(conn: psycopg.Connection) -> None:
    conn.execute("SELECT pg_advisory_unlock(%(key)s)", {"key": LOCK_KEY})


def listen(conn: psycopg.Connection) -> None:
    """Be woken by `NotifyChannel.NOTIFIER`: findings or answers changed."""
    conn.execute(f"LISTEN {NotifyChannel.NOTIFIER}")


# ---------------------------------------------------------------- rows


@dataclass(frozen=True)
class OfferRow:
    """One `offers` row, as the notifier and the answer pages read it."""

    offer_id: uuid.UUID
    device_id: str
    finding_id: int | None
    fault_kind: str
    kind: str
    severity: Severity
    status: OfferStatus
    locale: str
    title: str
    body: str
    channel: str | None
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None
    customer_id: uuid.UUID | None
    rule: str | None
    next_attempt_at: datetime | None
    held_reason: str | None
    sent_at: datetime | None
    delivered_at: datetime | None
    viewed_at: datetime | None
    answered_at: datetime | None
    answer: Answer | None
    reminded_at: datetime | None
    closed_at: datetime | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "severity", Severity(self.severity))
        object.__setattr__(self, "status", OfferStatus(self.status))
        if self.answer is not None:
            object.__setattr__(self, "answer", Answer(self.answer))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DueFinding:
    """An open finding the notifier has to decide on, with its last decision."""

    finding_id: int
    device_id: str
    fault_kind: str
    severity: Severity
    confidence: float
    reason: str
    detected_at: datetime
    detector: str
    evidence: Mapping[str, Any] | None
    onset_at: datetime | None
    decided_severity: Severity | None
    decided_outcome: DecisionOutcome | None
    decided_reason: str | None

    @property
    def finding(self) -> Finding:
        return Finding(
            finding_id=self.finding_id,
            device_id=self.device_id,
            fault_kind=self.fault_kind,
            severity=Severity(self.severity),
            confidence=self.confidence,
            reason=self.reason,
            detected_at=self.detected_at,
            detector=self.detector,
            evidence=self.evidence or {},
            onset_at=self.onset_at,
        )

    @property
    def previous(self) -> tuple[str | None, str | None, str | None]:
        """(severity, outcome, reason) of the last decision on this finding."""
        return (self.decided_severity, self.decided_outcome, self.decided_reason)


@dataclass(frozen=True)
class StandingOffer:
    """The offer that already covers a device's fault: a live one, or an accepted one."""

    offer_id: uuid.UUID
    severity: Severity
    status: OfferStatus

    def __post_init__(self) -> None:
        object.__setattr__(self, "severity", Severity(self.severity))
        object.__setattr__(self, "status", OfferStatus(self.status))


@dataclass(frozen=True)
class ClosedOffer:
    """A declined or expired offer for a device's fault (what the cooldown looks at)."""

    offer_id: uuid.UUID
    finding_id: int | None
    status: OfferStatus
    severity: Severity
    closed_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "severity", Severity(self.severity))
        object.__setattr__(self, "status", OfferStatus(self.status))


@dataclass(frozen=True)
class Response:
    """An answer a device sent (`offer_responses`, written by ingest)."""

    device_id: str
    offer_id: str
    """The id as the device sent it (a reminder's id has a suffix)."""
    answer: Answer
    answered_at: datetime
    comment: str | None


@dataclass(frozen=True)
class ChannelTries:
    """One channel's delivery attempts for one offer and purpose."""

    channel: str
    failed: int
    permanent: bool


@dataclass(frozen=True)
class Interaction:
    """One entry on the device's and customer's timeline."""

    ts: datetime
    touchpoint: TouchPoint
    kind: str
    summary: str
    device_id: str
    customer_id: object = None
    offer_id: object = None
    finding_id: int | None = None
    actor: str = "notifier"
    detail: Mapping[str, Any] | None = None
    status: TaskStatus | None = None
    """Set for an actionable entry (a task); None for a plain timeline entry."""
    due_at: datetime | None = None

    @classmethod
    def of_offer(
        cls,
        offer: OfferRow,
        *,
        ts: datetime,
        touchpoint: TouchPoint,
        kind: str,
        summary: str,
        actor: str = "notifier",
        detail: Mapping[str, Any] | None = None,
    ) -> Interaction:
        """An entry about an offer: its title follows the summary."""
        return cls(
            ts=ts,
            touchpoint=touchpoint,
            kind=kind,
            summary=f"{summary}: {offer.title}",
            device_id=offer.device_id,
            customer_id=offer.customer_id,
            offer_id=offer.offer_id,
            finding_id=offer.finding_id,
            actor=actor,
            detail=detail,
        )


@dataclass(frozen=True)
class Suppression:
    """An offer not made or not sent when it would have been, with the reason."""

    ts: datetime
    reason: str
    device_id: str
    fault_kind: str
    severity: Severity
    customer_id: object = None
    finding_id: int | None = None
    offer_id: object = None
    offer_kind: str | None = None
    alert_id: int | None = None
    detail: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class NewOffer:
    device_id: str
    finding_id: int
    fault_kind: str
    kind: str
    severity: Severity
    locale: str
    title: str
    body: str
    created_at: datetime
    expires_at: datetime
    customer_id: object
    rule: str


@dataclass(frozen=True)
class Attempt:
    offer_id: object
    purpose: Purpose
    channel: str
    attempt: int
    at: datetime
    ok: bool
    permanent: bool
    duration_ms: float
    detail: str
    retry_at: datetime | None


def _columns(row: type, table: str | None = None) -> sql.Composed:
    """The row type's fields as a column list (qualified by `table` when given)."""
    names = [f.name for f in fields(row)]
    if table is None:
        return sql.SQL(", ").join(sql.Identifier(n) for n in names)
    return sql.SQL(", ").join(sql.Identifier(table, n) for n in names)


_OFFER = _columns(OfferRow)
_OFFER_O = _columns(OfferRow, "o")


def _offers(conn: psycopg.Connection, query: sql.Composable, params: Any) -> list[OfferRow]:
    with conn.cursor(row_factory=class_row(OfferRow)) as cur:
        return cur.execute(query, params).fetchall()


# ---------------------------------------------------------------- findings and decisions

# A finding is open at `now` if it is open, or resolved only after `now` (a pass run on
# simulated time, after the detectors have seen the whole run).
_DUE_FINDINGS = """
SELECT f.finding_id, f.device_id, f.fault_kind, f.severity, f.confidence, f.reason,
       f.detected_at, f.detector, f.evidence, f.onset_at,
       d.severity AS decided_severity, d.outcome AS decided_outcome, d.reason AS decided_reason
FROM findings f LEFT JOIN notifier_decisions d ON d.finding_id = f.finding_id
WHERE (f.status = %(open)s OR f.resolved_at > %(now)s) AND f.detected_at <= %(now)s AND (
    d.finding_id IS NULL
    OR array_position(%(sev)s::text[], f.severity) > array_position(%(sev)s::text[], d.severity)
    OR d.recheck_at <= %(now)s)
ORDER BY f.detected_at, f.finding_id
LIMIT %(limit)s
"""


def due_findings(conn: psycopg.Connection, now: datetime, limit: int) -> list[DueFinding]:
    """Open findings not decided on, or whose severity rose, or whose recheck came."""
    params = {
        "now": now,
        "open": FindingStatus.OPEN,
        "sev": [s.value for s in Severity],
        "limit": limit,
    }
    with conn.cursor(row_factory=class_row(DueFinding)) as cur:
        return cur.execute(_DUE_FINDINGS, params).fetchall()


_DECIDE = """
INSERT INTO notifier_decisions (finding_id, severity, outcome, reason, offer_id, decided_at,
                                recheck_at)
VALUES (%(finding_id)s, %(severity)s, %(outcome)s, %(reason)s, %(offer_id)s, %(now)s,
        %(recheck_at)s)
ON CONFLICT (finding_id) DO UPDATE SET severity = EXCLUDED.severity,
    outcome = EXCLUDED.outcome, reason = EXCLUDED.reason, offer_id = EXCLUDED.offer_id,
    decided_at = EXCLUDED.decided_at, recheck_at = EXCLUDED.recheck_at
"""


def decide(
    conn: psycopg.Connection,
    finding: Finding,
    now: datetime,
    outcome: DecisionOutcome,
    *,
    reason: str | None = None,
    offer_id: object = None,
    recheck_at: datetime | None = None,
) -> None:
    """Remember what was decided on the finding, and when to look at it again."""
    conn.execute(
        _DECIDE,
        {
            "finding_id": finding.finding_id,
            "severity": finding.severity,
            "outcome": outcome,
            "reason": reason,
            "offer_id": offer_id,
            "now": now,
            "recheck_at": recheck_at,
        },
    )


_RECHECK_OFFERED = """
UPDATE notifier_decisions SET recheck_at = %(at)s
WHERE finding_id = ANY(%(findings)s) AND outcome = 'offered'
"""


def recheck_offered(conn: psycopg.Connection, finding_ids: Sequence[int], at: datetime) -> None:
    """Look at these findings, whose offers were made, again at `at`."""
    if finding_ids:
        conn.execute(_RECHECK_OFFERED, {"at": at, "findings": list(finding_ids)})


_MARK_FALSE_ALARM = """
UPDATE findings SET status = %(false_alarm)s, resolved_at = coalesce(resolved_at, %(at)s),
    updated_at = %(at)s
WHERE finding_id = %(finding_id)s AND status = %(open)s
RETURNING fault_kind, detector
"""
_FINDING_KIND = "SELECT fault_kind, detector FROM findings WHERE finding_id = %(finding_id)s"
_FEEDBACK = """
INSERT INTO finding_feedback (ts, finding_id, device_id, fault_kind, detector, verdict, source,
                              offer_id, comment)
VALUES (%(at)s, %(finding_id)s, %(device_id)s, %(fault_kind)s, %(detector)s, %(verdict)s,
        %(source)s, %(offer_id)s, %(comment)s)
"""


def mark_false_alarm(
    conn: psycopg.Connection, finding_id: int, at: datetime
) -> tuple[str, str] | None:
    """Make an open finding a false alarm; its (fault kind, detector), None if it is gone."""
    params = {
        "finding_id": finding_id,
        "at": at,
        "open": FindingStatus.OPEN,
        "false_alarm": FindingStatus.FALSE_ALARM,
    }
    row = conn.execute(_MARK_FALSE_ALARM, params).fetchone()
    if row is None:
        row = conn.execute(_FINDING_KIND, params).fetchone()
    return None if row is None else (row[0], row[1])


def record_false_alarm(
    conn: psycopg.Connection,
    offer: OfferRow,
    *,
    fault_kind: str,
    detector: str,
    at: datetime,
    source: TouchPoint,
    comment: str | None,
) -> None:
    """The owner's verdict on the offer's finding, for detector tuning."""
    conn.execute(
        _FEEDBACK,
        {
            "at": at,
            "finding_id": offer.finding_id,
            "device_id": offer.device_id,
            "fault_kind": fault_kind,
            "detector": detector,
            "verdict": FeedbackVerdict.FALSE_ALARM,
            "source": source,
            "offer_id": offer.offer_id,
            "comment": comment,
        },
    )


# ---------------------------------------------------------------- offers: reading

_LIVE = [s.value for s in OfferStatus if s.live]

_OFFER_BY_ID = sql.SQL("SELECT {} FROM offers WHERE offer_id = %(offer_id)s").format(_OFFER)
_OFFER_BY_ID_LOCKED = sql.SQL("{} FOR UPDATE").format(_OFFER_BY_ID)


def offer(conn: psycopg.Connection, offer_id: object, *, lock: bool = False) -> OfferRow | None:
    """One offer (locked for the transaction when `lock`), None when there is none."""
    rows = _offers(conn, _OFFER_BY_ID_LOCKED if lock else _OFFER_BY_ID, {"offer_id": offer_id})
    return rows[0] if rows else None


_STANDING_OFFER = """
SELECT offer_id, severity, status FROM offers
WHERE device_id = %(device_id)s AND fault_kind = %(fault_kind)s
  AND (status = ANY(%(live)s) OR (status = %(accepted)s AND finding_id = %(finding_id)s))
ORDER BY (status = %(accepted)s), created_at DESC
LIMIT 1
"""


def standing_offer(conn: psycopg.Connection, finding: Finding) -> StandingOffer | None:
    """The live offer for the finding's device and fault, or the finding's accepted one."""
    params = {
        "device_id": finding.device_id,
        "fault_kind": finding.fault_kind,
        "finding_id": finding.finding_id,
        "live": _LIVE,
        "accepted": OfferStatus.ACCEPTED,
    }
    with conn.cursor(row_factory=class_row(StandingOffer)) as cur:
        return cur.execute(_STANDING_OFFER, params).fetchone()


_CLOSED_OFFERS = """
SELECT offer_id, finding_id, status, severity, closed_at FROM offers
WHERE device_id = %(device_id)s AND fault_kind = %(fault_kind)s
  AND status = ANY(%(closed)s) AND closed_at <= %(now)s
ORDER BY closed_at DESC
"""


def declined_or_expired(
    conn: psycopg.Connection, device_id: str, fault_kind: str, now: datetime
) -> list[ClosedOffer]:
    """The device's declined and expired offers for the fault, latest first."""
    params = {
        "device_id": device_id,
        "fault_kind": fault_kind,
        "now": now,
        "closed": [OfferStatus.DECLINED.value, OfferStatus.EXPIRED.value],
    }
    with conn.cursor(row_factory=class_row(ClosedOffer)) as cur:
        return cur.execute(_CLOSED_OFFERS, params).fetchall()


_OFFERS_MADE = sql.SQL(
    "SELECT count(*), min(created_at) FROM offers WHERE {who} = %(who)s"
    " AND created_at > %(since)s AND created_at <= %(now)s"
)


def offers_made(
    conn: psycopg.Connection,
    *,
    customer_id: object,
    device_id: str,
    since: datetime,
    now: datetime,
) -> tuple[int, datetime | None]:
    """Offers made to the customer (or, without an owner, to the device) in (since, now],
    and when the oldest of them was made."""
    who = "customer_id" if customer_id is not None else "device_id"
    query = _OFFERS_MADE.format(who=sql.Identifier(who))
    params = {"who": customer_id if customer_id is not None else device_id}
    row = conn.execute(query, params | {"since": since, "now": now}).fetchone()
    assert row is not None
    return row[0], row[1]


_DUE_OFFERS = sql.SQL(
    "SELECT {} FROM offers WHERE status = %(created)s AND next_attempt_at <= %(now)s"
    " ORDER BY next_attempt_at, created_at, finding_id, offer_id LIMIT %(limit)s"
).format(_OFFER)


def due_offers(conn: psycopg.Connection, now: datetime, limit: int) -> list[OfferRow]:
    """Created offers whose (next) delivery attempt is due."""
    return _offers(conn, _DUE_OFFERS, {"created": OfferStatus.CREATED, "now": now, "limit": limit})


_DUE_REMINDERS = sql.SQL(
    "SELECT {} FROM offers WHERE status = ANY(%(unanswered)s) AND severity = %(severity)s"
    " AND reminded_at IS NULL AND sent_at <= %(cutoff)s ORDER BY sent_at LIMIT %(limit)s"
).format(_OFFER)


def due_reminders(
    conn: psycopg.Connection, cutoff: datetime, severity: Severity, limit: int
) -> list[OfferRow]:
    """Sent offers of this severity, unanswered and not reminded, sent by `cutoff`."""
    unanswered = [OfferStatus.SENT.value, OfferStatus.DELIVERED.value, OfferStatus.VIEWED.value]
    params = {"unanswered": unanswered, "severity": severity, "cutoff": cutoff, "limit": limit}
    return _offers(conn, _DUE_REMINDERS, params)


_TRIES = """
SELECT channel, count(*) FILTER (WHERE NOT ok) AS failed,
       coalesce(bool_or(permanent), false) AS permanent
FROM offer_attempts WHERE offer_id = %(offer_id)s AND purpose = %(purpose)s GROUP BY channel
"""


def tries(conn: psycopg.Connection, offer_id: object, purpose: Purpose) -> dict[str, ChannelTries]:
    """Per channel: failed attempts so far and whether one failed for good."""
    with conn.cursor(row_factory=class_row(ChannelTries)) as cur:
        rows = cur.execute(_TRIES, {"offer_id": offer_id, "purpose": purpose}).fetchall()
    return {r.channel: r for r in rows}


_REMINDER_RETRY_AT = """
SELECT retry_at FROM offer_attempts WHERE offer_id = %(offer_id)s AND purpose = 'reminder'
ORDER BY attempt_id DESC LIMIT 1
"""


def reminder_retry_at(conn: psycopg.Connection, offer_id: object) -> datetime | None:
    """When the last failed reminder of the offer may be tried again (None: now)."""
    row = conn.execute(_REMINDER_RETRY_AT, {"offer_id": offer_id}).fetchone()
    return None if row is None else row[0]


# ---------------------------------------------------------------- offers: writing

_INSERT_OFFER = sql.SQL(
    "INSERT INTO offers (device_id, finding_id, fault_kind, kind, severity, status, locale,"
    " title, body, created_at, updated_at, expires_at, customer_id, rule, next_attempt_at)"
    " VALUES (%(device_id)s, %(finding_id)s, %(fault_kind)s, %(kind)s, %(severity)s,"
    " %(status)s, %(locale)s, %(title)s, %(body)s, %(created_at)s, %(created_at)s,"
    " %(expires_at)s, %(customer_id)s, %(rule)s, %(created_at)s)"
    " ON CONFLICT DO NOTHING RETURNING {}"
).format(_OFFER)


def insert_offer(conn: psycopg.Connection, new: NewOffer) -> OfferRow | None:
    """A created offer, due at once; None when a live one for the fault appeared meanwhile."""
    rows = _offers(conn, _INSERT_OFFER, asdict(new) | {"status": OfferStatus.CREATED})
    return rows[0] if rows else None


_ANSWER = """
UPDATE offers SET status = %(status)s, answer = %(answer)s, answered_at = %(at)s,
    delivered_at = coalesce(delivered_at, %(at)s), viewed_at = coalesce(viewed_at, %(at)s),
    closed_at = CASE WHEN %(status)s = %(declined)s THEN %(at)s END,
    next_attempt_at = NULL, held_reason = NULL, updated_at = %(at)s
WHERE offer_id = %(offer_id)s
"""


def record_answer(
    conn: psycopg.Connection, offer_id: object, answer: Answer, status: OfferStatus, at: datetime
) -> None:
    conn.execute(
        _ANSWER,
        {
            "status": status,
            "answer": answer,
            "at": at,
            "offer_id": offer_id,
            "declined": OfferStatus.DECLINED,
        },
    )


_VIEWED = """
UPDATE offers SET status = %(viewed)s, viewed_at = %(at)s,
    delivered_at = coalesce(delivered_at, %(at)s), updated_at = %(at)s
WHERE offer_id = %(offer_id)s
"""


def mark_viewed(conn: psycopg.Connection, offer_id: object, at: datetime) -> None:
    conn.execute(_VIEWED, {"viewed": OfferStatus.VIEWED, "at": at, "offer_id": offer_id})


_CLOSE = sql.SQL(
    "status = %(status)s, closed_at = %(now)s, updated_at = %(now)s, next_attempt_at = NULL"
)
_CLOSE_ONE = sql.SQL(
    "UPDATE offers o SET {close} WHERE o.offer_id = %(offer_id)s RETURNING {columns}"
).format(close=_CLOSE, columns=_OFFER_O)
_EXPIRE_DUE = sql.SQL(
    "UPDATE offers o SET {close} WHERE o.status = ANY(%(live)s)"
    " AND o.expires_at <= %(now)s RETURNING {columns}"
).format(close=_CLOSE, columns=_OFFER_O)
_CLOSE_RESOLVED = sql.SQL(
    "UPDATE offers o SET {close} WHERE o.status = ANY(%(open_or_accepted)s)"
    " AND EXISTS (SELECT 1 FROM findings f WHERE f.finding_id = o.finding_id"
    " AND coalesce(f.resolved_at, f.updated_at) <= %(now)s AND (f.status = %(resolved)s"
    " OR (f.status = %(false_alarm)s AND o.status <> %(accepted)s))) RETURNING {columns}"
).format(close=_CLOSE, columns=_OFFER_O)


def close_offer(
    conn: psycopg.Connection, offer_id: object, status: OfferStatus, now: datetime
) -> list[OfferRow]:
    """Close one offer with `status` (expired when superseded)."""
    return _offers(conn, _CLOSE_ONE, {"status": status, "now": now, "offer_id": offer_id})


def expire_due(conn: psycopg.Connection, now: datetime) -> list[OfferRow]:
    """Live offers past their expiry become `expired`."""
    return _offers(conn, _EXPIRE_DUE, {"status": OfferStatus.EXPIRED, "now": now, "live": _LIVE})


def close_resolved(conn: psycopg.Connection, now: datetime) -> list[OfferRow]:
    """Live or accepted offers whose finding resolved, and live offers whose finding
    someone declared a false alarm, become `resolved`."""
    params = {
        "status": OfferStatus.RESOLVED,
        "now": now,
        "open_or_accepted": [*_LIVE, OfferStatus.ACCEPTED.value],
        "resolved": FindingStatus.RESOLVED,
        "false_alarm": FindingStatus.FALSE_ALARM,
        "accepted": OfferStatus.ACCEPTED,
    }
    return _offers(conn, _CLOSE_RESOLVED, params)


_DELIVERED_SEEN = sql.SQL(
    "UPDATE offers o SET status = %(delivered)s, delivered_at = %(now)s, updated_at = %(now)s"
    " FROM devices d WHERE d.device_id = o.device_id AND o.status = %(sent)s"
    " AND o.channel = %(channel)s AND d.last_seen_at > o.sent_at RETURNING {}"
).format(_OFFER_O)


def mark_delivered_when_seen(
    conn: psycopg.Connection, channel: str, now: datetime
) -> list[OfferRow]:
    """Offers sent on `channel` to devices seen since become `delivered`."""
    params = {
        "delivered": OfferStatus.DELIVERED,
        "sent": OfferStatus.SENT,
        "channel": channel,
        "now": now,
    }
    return _offers(conn, _DELIVERED_SEEN, params)


_HOLD = """
UPDATE offers SET next_attempt_at = %(until)s, held_reason = %(reason)s, updated_at = %(now)s
WHERE offer_id = %(offer_id)s
"""


def hold(
    conn: psycopg.Connection, offer_id: object, *, reason: str, until: datetime, now: datetime
) -> None:
    """Keep the offer and look again at `until` (a retry is a hold with reason `retry`)."""
    conn.execute(_HOLD, {"until": until, "reason": reason, "now": now, "offer_id": offer_id})


_SENT = """
UPDATE offers SET status = %(status)s, channel = %(channel)s, sent_at = %(now)s,
    delivered_at = CASE WHEN %(delivered)s THEN %(now)s END, next_attempt_at = NULL,
    held_reason = NULL, updated_at = %(now)s
WHERE offer_id = %(offer_id)s
"""


def mark_sent(
    conn: psycopg.Connection, offer_id: object, *, channel: str, delivered: bool, now: datetime
) -> None:
    status = OfferStatus.DELIVERED if delivered else OfferStatus.SENT
    conn.execute(
        _SENT,
        {
            "status": status,
            "channel": channel,
            "delivered": delivered,
            "now": now,
            "offer_id": offer_id,
        },
    )


_RETRY = """
UPDATE offers SET next_attempt_at = %(retry_at)s, held_reason = 'retry', channel = %(channel)s,
    updated_at = %(now)s
WHERE offer_id = %(offer_id)s
"""


def retry_later(
    conn: psycopg.Connection, offer_id: object, *, channel: str, retry_at: datetime, now: datetime
) -> None:
    conn.execute(
        _RETRY, {"retry_at": retry_at, "channel": channel, "now": now, "offer_id": offer_id}
    )


_UNDELIVERABLE = """
UPDATE offers SET next_attempt_at = NULL, held_reason = 'undeliverable', updated_at = %(now)s
WHERE offer_id = %(offer_id)s
"""


def mark_undeliverable(conn: psycopg.Connection, offer_id: object, now: datetime) -> None:
    conn.execute(_UNDELIVERABLE, {"now": now, "offer_id": offer_id})


_REMINDED = "UPDATE offers SET reminded_at = %(now)s, updated_at = %(now)s WHERE offer_id = %(id)s"


def mark_reminded(conn: psycopg.Connection, offer_id: object, now: datetime) -> None:
    conn.execute(_REMINDED, {"now": now, "id": offer_id})


_ATTEMPT = """
INSERT INTO offer_attempts (offer_id, purpose, channel, attempt, at, ok, permanent,
                            duration_ms, detail, retry_at)
VALUES (%(offer_id)s, %(purpose)s, %(channel)s, %(attempt)s, %(at)s, %(ok)s, %(permanent)s,
        %(duration_ms)s, %(detail)s, %(retry_at)s)
"""


def record_attempt(conn: psycopg.Connection, attempt: Attempt) -> None:
    conn.execute(_ATTEMPT, asdict(attempt))


# ---------------------------------------------------------------- answers from devices

_PENDING_RESPONSES = """
SELECT device_id, offer_id, answer, answered_at, comment FROM offer_responses
WHERE processed_at IS NULL ORDER BY received_at, answered_at LIMIT %(limit)s
"""
_RESPONSE_DONE = """
UPDATE offer_responses SET processed_at = %(now)s
WHERE device_id = %(device_id)s AND offer_id = %(offer_id)s AND answered_at = %(answered_at)s
"""


def pending_responses(conn: psycopg.Connection, limit: int) -> list[Response]:
    with conn.cursor(row_factory=class_row(Response)) as cur:
        return cur.execute(_PENDING_RESPONSES, {"limit": limit}).fetchall()


def response_done(conn: psycopg.Connection, response: Response, now: datetime) -> None:
    conn.execute(
        _RESPONSE_DONE,
        {
            "now": now,
            "device_id": response.device_id,
            "offer_id": response.offer_id,
            "answered_at": response.answered_at,
        },
    )


# ---------------------------------------------------------------- timeline and suppressions

_INTERACTION = """
INSERT INTO interactions (ts, customer_id, device_id, touchpoint, kind, offer_id, finding_id,
                          actor, summary, detail, status, due_at)
VALUES (%(ts)s, %(customer_id)s, %(device_id)s, %(touchpoint)s, %(kind)s, %(offer_id)s,
        %(finding_id)s, %(actor)s, %(summary)s, %(detail)s, %(status)s, %(due_at)s)
"""


def add_interaction(conn: psycopg.Connection, entry: Interaction) -> None:
    conn.execute(_INTERACTION, asdict(entry) | {"detail": Jsonb(dict(entry.detail or {}))})


_SUPPRESSION = """
INSERT INTO offer_suppressions (ts, reason, device_id, customer_id, finding_id, offer_id,
                                alert_id, fault_kind, offer_kind, severity, detail)
VALUES (%(ts)s, %(reason)s, %(device_id)s, %(customer_id)s, %(finding_id)s, %(offer_id)s,
        %(alert_id)s, %(fault_kind)s, %(offer_kind)s, %(severity)s, %(detail)s)
"""


def record_suppression(conn: psycopg.Connection, entry: Suppression) -> None:
    conn.execute(_SUPPRESSION, asdict(entry) | {"detail": Jsonb(dict(entry.detail or {}))})


# ---------------------------------------------------------------- recipients and customers

_RECIPIENTS = """
SELECT d.device_id, d.model, d.consent_telemetry, d.consent_care_offers, d.consent_email,
       c.customer_id::text AS customer_id, c.name, c.email, c.locale, c.timezone
FROM devices d LEFT JOIN customers c ON c.customer_id = d.customer_id
WHERE d.device_id = ANY(%(ids)s)
"""


def recipients(conn: psycopg.Connection, device_ids: Iterable[str]) -> dict[str, Recipient]:
    """Devices and their owners (consent, address, language, time zone), by device id."""
    with conn.cursor(row_factory=class_row(Recipient)) as cur:
        rows = cur.execute(_RECIPIENTS, {"ids": sorted(set(device_ids))}).fetchall()
    return {r.device_id: r for r in rows}


_CREATE_CUSTOMER = """
INSERT INTO customers (external_ref, name, email, phone, locale, timezone)
VALUES (%(external_ref)s, %(name)s, %(email)s, %(phone)s, %(locale)s, %(timezone)s)
ON CONFLICT (external_ref) DO UPDATE SET external_ref = EXCLUDED.external_ref
RETURNING customer_id::text
"""


def create_customer(
    conn: psycopg.Connection,
    *,
    name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    locale: str = "en",
    timezone: str = "UTC",
    external_ref: str | None = None,
) -> str:
    """A new customer (or the one with this `external_ref`); returns its id."""
    row = conn.execute(
        _CREATE_CUSTOMER,
        {
            "external_ref": external_ref,
            "name": name,
            "email": email,
            "phone": phone,
            "locale": locale,
            "timezone": timezone,
        },
    ).fetchone()
    assert row is not None
    return row[0]


_ATTACH = "UPDATE devices SET customer_id = %(customer_id)s WHERE device_id = %(device_id)s"
_OWNERS = """
SELECT device_id, customer_id::text FROM devices
WHERE device_id = ANY(%(ids)s) AND customer_id IS NOT NULL
"""


def attach(conn: psycopg.Connection, device_id: str, customer_id: str) -> None:
    """Make the customer the device's owner (the device row must exist)."""
    cur = conn.execute(_ATTACH, {"customer_id": customer_id, "device_id": device_id})
    if cur.rowcount != 1:
        raise LookupError(f"no device {device_id!r}")


def owners(conn: psycopg.Connection, device_ids: Sequence[str]) -> dict[str, str]:
    """Device id -> customer id of those devices that have an owner."""
    return dict(conn.execute(_OWNERS, {"ids": list(device_ids)}).fetchall())


# ---------------------------------------------------------------- fleet alerts (storms)

_OPEN_ALERT = """
SELECT alert_id FROM fleet_alerts
WHERE kind = 'offer_storm' AND offer_kind = %(kind)s AND status = 'open'
"""
_RELEASED_SINCE = """
SELECT 1 FROM fleet_alerts WHERE kind = 'offer_storm' AND offer_kind = %(kind)s
  AND status = 'released' AND closed_at > %(since)s
LIMIT 1
"""
_STORM_DEVICES = """
SELECT device_id FROM offers
WHERE kind = %(kind)s AND created_at > %(since)s AND created_at <= %(now)s
UNION
SELECT device_id FROM offer_suppressions
WHERE reason = 'storm' AND offer_kind = %(kind)s AND ts > %(since)s AND ts <= %(now)s
"""
_FLEET_SIZE = "SELECT count(*) FROM devices"
_RAISE_ALERT = """
INSERT INTO fleet_alerts (kind, offer_kind, raised_at, devices, fleet, summary, detail)
VALUES ('offer_storm', %(kind)s, %(now)s, %(devices)s, %(fleet)s, %(summary)s, %(detail)s)
RETURNING alert_id
"""
_ADD_HELD = "UPDATE fleet_alerts SET devices = devices + %(held)s WHERE alert_id = %(alert_id)s"
_CLOSE_ALERT = """
UPDATE fleet_alerts SET status = %(status)s, closed_at = %(now)s
WHERE alert_id = %(alert_id)s AND status = 'open'
"""
_RECHECK_HELD = """
UPDATE notifier_decisions d SET recheck_at = %(now)s FROM offer_suppressions s
WHERE s.alert_id = %(alert_id)s AND s.finding_id = d.finding_id
  AND d.outcome = 'suppressed' AND d.reason = 'storm'
"""


def open_alert(conn: psycopg.Connection, offer_kind: str) -> int | None:
    """The open storm alert of this offer kind, if there is one."""
    row = conn.execute(_OPEN_ALERT, {"kind": offer_kind}).fetchone()
    return None if row is None else row[0]


def released_since(conn: psycopg.Connection, offer_kind: str, since: datetime) -> bool:
    """Whether engineers released a storm of this offer kind after `since`."""
    return (
        conn.execute(_RELEASED_SINCE, {"kind": offer_kind, "since": since}).fetchone() is not None
    )


def storm_devices(
    conn: psycopg.Connection, offer_kind: str, since: datetime, now: datetime
) -> set[str]:
    """Devices that got or were held from this offer kind in (since, now]."""
    params = {"kind": offer_kind, "since": since, "now": now}
    return {r[0] for r in conn.execute(_STORM_DEVICES, params).fetchall()}


def fleet_size(conn: psycopg.Connection) -> int:
    row = conn.execute(_FLEET_SIZE).fetchone()
    assert row is not None
    return row[0]


def raise_alert(
    conn: psycopg.Connection,
    *,
    offer_kind: str,
    now: datetime,
    devices: int,
    fleet: int,
    summary: str,
    detail: Mapping[str, Any],
) -> int:
    row = conn.execute(
        _RAISE_ALERT,
        {
            "kind": offer_kind,
            "now": now,
            "devices": devices,
            "fleet": fleet,
            "summary": summary,
            "detail": Jsonb(dict(detail)),
        },
    ).fetchone()
    assert row is not None
    return row[0]


def add_held(conn: psycopg.Connection, alert_id: int, held: int) -> None:
    conn.execute(_ADD_HELD, {"held": held, "alert_id": alert_id})


def close_alert(conn: psycopg.Connection, alert_id: int, status: str, now: datetime) -> None:
    """Close an open alert as `released` or `dismissed`."""
    conn.execute(_CLOSE_ALERT, {"status": status, "now": now, "alert_id": alert_id})


def recheck_held(conn: psycopg.Connection, alert_id: int, now: datetime) -> int:
    """Findings the alert held are looked at again at `now`; returns how many."""
    return conn.execute(_RECHECK_HELD, {"alert_id": alert_id, "now": now}).rowcount


# ---------------------------------------------------------------- counts (demo, dashboards)


def _between(column: str, since: datetime | None, until: datetime | None) -> sql.Composable:
    """`column` in [since, until), either end open when None."""
    clauses: list[sql.Composable] = [sql.SQL("true")]
    if since is not None:
        clauses.append(sql.SQL("{} >= %(since)s").format(sql.Identifier(column)))
    if until is not None:
        clauses.append(sql.SQL("{} < %(until)s").format(sql.Identifier(column)))
    return sql.SQL(" AND ").join(clauses)


_BY_STATUS = sql.SQL("SELECT status, count(*) FROM offers WHERE {w} GROUP BY 1")
_BY_KIND = sql.SQL("SELECT kind, count(*) FROM offers WHERE {w} GROUP BY 1")
_ANSWERS = sql.SQL(
    "SELECT answer, count(*) FROM offers WHERE {w} AND answer IS NOT NULL GROUP BY 1"
)
_SENT_AND_REMINDED = sql.SQL(
    "SELECT count(*) FILTER (WHERE sent_at IS NOT NULL),"
    " count(*) FILTER (WHERE reminded_at IS NOT NULL) FROM offers WHERE {w}"
)
_SUPPRESSED = sql.SQL("SELECT reason, count(*) FROM offer_suppressions WHERE {w} GROUP BY 1")
_SUPPRESSED_FINDINGS = sql.SQL(
    "SELECT reason, count(DISTINCT coalesce(finding_id::text, offer_id::text))"
    " FROM offer_suppressions WHERE {w} GROUP BY 1"
)
_FALSE_ALARMS = sql.SQL(
    "SELECT count(*) FROM finding_feedback WHERE verdict = %(false_alarm)s AND {w}"
)
_FLEET_ALERTS = sql.SQL("SELECT count(*) FROM fleet_alerts WHERE {w}")
_ATTEMPTS = sql.SQL(
    "SELECT channel, count(*) FILTER (WHERE ok), count(*) FILTER (WHERE NOT ok)"
    " FROM offer_attempts WHERE {w} GROUP BY 1"
)


@dataclass(frozen=True)
class RawCounts:
    """What `counts` reads; `notifier.stats` shapes it."""

    by_status: dict[str, int]
    by_kind: dict[str, int]
    answers: dict[str, int]
    sent: int
    reminders: int
    suppressed: dict[str, int]
    suppressed_findings: dict[str, int]
    false_alarms: int
    fleet_alerts: int
    attempts: dict[str, tuple[int, int]]


def counts(
    conn: psycopg.Connection, *, since: datetime | None, until: datetime | None
) -> RawCounts:
    """Counts over offers created (suppressions, feedback, attempts, alerts made) in
    [since, until)."""
    window = {"since": since, "until": until, "false_alarm": FeedbackVerdict.FALSE_ALARM}
    offers_w = _between("created_at", since, until)
    ts_w = _between("ts", since, until)

    def pairs(query: sql.SQL, where: sql.Composable) -> dict[str, int]:
        rows = conn.execute(query.format(w=where), window).fetchall()
        return {str(k): int(v) for k, v in rows}

    def one(query: sql.SQL, where: sql.Composable) -> tuple[Any, ...]:
        row = conn.execute(query.format(w=where), window).fetchone()
        assert row is not None
        return tuple(row)

    sent, reminders = one(_SENT_AND_REMINDED, offers_w)
    attempts = conn.execute(_ATTEMPTS.format(w=_between("at", since, until)), window).fetchall()
    return RawCounts(
        by_status=pairs(_BY_STATUS, offers_w),
        by_kind=pairs(_BY_KIND, offers_w),
        answers=pairs(_ANSWERS, offers_w),
        sent=sent,
        reminders=reminders,
        suppressed=pairs(_SUPPRESSED, ts_w),
        suppressed_findings=pairs(_SUPPRESSED_FINDINGS, ts_w),
        false_alarms=one(_FALSE_ALARMS, ts_w)[0],
        fleet_alerts=one(_FLEET_ALERTS, _between("raised_at", since, until))[0],
        attempts={channel: (ok, failed) for channel, ok, failed in attempts},
    )


# ---------------------------------------------------------------- escalation


@dataclass(frozen=True)
class DeclinedCase:
    """An open finding whose latest answered offer was declined, with the escalation steps
    (interaction kinds) already taken for it."""

    finding_id: int
    fault_kind: str
    severity: Severity
    offer_id: uuid.UUID
    device_id: str
    customer_id: uuid.UUID | None
    title: str
    declined_at: datetime
    steps: list[str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "severity", Severity(self.severity))


_DECLINED_OPEN = """
SELECT finding_id, fault_kind, severity, offer_id, device_id, customer_id, title, declined_at,
       steps
FROM (SELECT DISTINCT ON (o.finding_id)
             o.finding_id, f.fault_kind, f.severity, o.offer_id, o.device_id, o.customer_id,
             o.title, o.status, o.answered_at AS declined_at,
             ARRAY(SELECT i.kind FROM interactions i
                   WHERE i.finding_id = o.finding_id AND i.kind = ANY(%(steps)s)) AS steps
      FROM offers o JOIN findings f ON f.finding_id = o.finding_id
      WHERE f.status = %(open)s AND f.fault_kind = ANY(%(kinds)s)
        AND f.severity = ANY(%(severities)s) AND o.answered_at IS NOT NULL
      ORDER BY o.finding_id, o.answered_at DESC) last_answer
WHERE status = %(declined)s
"""


def declined_open(
    conn: psycopg.Connection,
    fault_kinds: Iterable[str],
    severities: Iterable[Severity],
    steps: Sequence[str],
) -> list[DeclinedCase]:
    """Open findings of these kinds and severities whose last answer was a decline."""
    with conn.cursor(row_factory=class_row(DeclinedCase)) as cur:
        return cur.execute(
            _DECLINED_OPEN,
            {
                "open": FindingStatus.OPEN,
                "declined": OfferStatus.DECLINED,
                "kinds": list(fault_kinds),
                "severities": [str(s) for s in severities],
                "steps": list(steps),
            },
        ).fetchall()
