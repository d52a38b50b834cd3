"""The offer life cycle and the customer's timeline.

created -> sent -> delivered -> viewed -> accepted | declined, and at any live point
expired (time) or resolved (the finding resolved; also after accepted). Every change is
an `interactions` row on the device's and customer's timeline, written in the same
transaction as the change. Answers come from the device (`offer_responses`, written by
ingest) or from a signed web link (the API); both go through `apply_answer`.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from notifier.channels.base import REMINDER_SUFFIX

log = logging.getLogger(__name__)

LIVE = ("created", "sent", "delivered", "viewed")
ANSWERABLE = (*LIVE, "expired")
STATUS_OF_ANSWER = {"accept": "accepted", "dismiss": "declined", "wrong": "declined"}


def interaction(
    conn: psycopg.Connection,
    *,
    ts: datetime,
    touchpoint: str,
    kind: str,
    summary: str,
    device_id: str,
    customer_id: object = None,
    offer_id: object = None,
    finding_id: int | None = None,
    actor: str = "notifier",
    detail: dict | None = None,
) -> None:
    conn.execute(
        "INSERT INTO interactions (ts, customer_id, device_id, touchpoint, kind, offer_id,"
        " finding_id, actor, summary, detail) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            ts,
            customer_id,
            device_id,
            touchpoint,
            kind,
            offer_id,
            finding_id,
            actor,
            summary,
            Jsonb(detail or {}),
        ),
    )


def offer_interaction(
    conn: psycopg.Connection,
    offer: dict,
    *,
    ts: datetime,
    touchpoint: str,
    kind: str,
    summary: str,
    actor: str = "notifier",
    detail: dict | None = None,
) -> None:
    interaction(
        conn,
        ts=ts,
        touchpoint=touchpoint,
        kind=kind,
        summary=f"{summary}: {offer['title']}",
        device_id=offer["device_id"],
        customer_id=offer["customer_id"],
        offer_id=offer["offer_id"],
        finding_id=offer["finding_id"],
        actor=actor,
        detail=detail,
    )


def parse_offer_id(wire_id: str) -> uuid.UUID | None:
    """The offer behind an id the device answered (a reminder's id included)."""
    text = wire_id.removesuffix(REMINDER_SUFFIX)
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


_LOAD = "SELECT * FROM offers WHERE offer_id = %s"
_LOAD_LOCKED = _LOAD + " FOR UPDATE"


def load_offer(conn: psycopg.Connection, offer_id: object, *, lock: bool = False) -> dict | None:
    sql = _LOAD_LOCKED if lock else _LOAD
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, (offer_id,)).fetchone()  # type: ignore[arg-type]


@dataclass(frozen=True)
class AnswerOutcome:
    applied: bool
    status: str
    detail: str = ""


def apply_answer(
    conn: psycopg.Connection,
    offer_id: object,
    answer: str,
    *,
    at: datetime,
    touchpoint: str,
    comment: str | None = None,
    device_id: str | None = None,
) -> AnswerOutcome:
    """Record the owner's answer; `wrong` also marks the finding a false alarm.

    Runs in one transaction. An answer to an offer that is already answered, resolved or
    unknown changes nothing (the same answer twice is not an error).
    """
    with conn.transaction():
        offer = load_offer(conn, offer_id, lock=True)
        if offer is None or (device_id is not None and offer["device_id"] != device_id):
            return AnswerOutcome(False, "unknown", "no such offer for this device")
        if offer["status"] not in ANSWERABLE:
            return AnswerOutcome(False, offer["status"], f"offer is already {offer['status']}")
        status = STATUS_OF_ANSWER[answer]
        conn.execute(
            "UPDATE offers SET status = %(status)s, answer = %(answer)s, answered_at = %(at)s,"
            " delivered_at = coalesce(delivered_at, %(at)s),"
            " viewed_at = coalesce(viewed_at, %(at)s),"
            " closed_at = CASE WHEN %(status)s = 'declined' THEN %(at)s END,"
            " next_attempt_at = NULL, held_reason = NULL, updated_at = %(at)s"
            " WHERE offer_id = %(id)s",
            {"status": status, "answer": answer, "at": at, "id": offer["offer_id"]},
        )
        words = {"accept": "accepted", "dismiss": "dismissed", "wrong": "reported as wrong"}
        offer_interaction(
            conn,
            offer,
            ts=at,
            touchpoint=touchpoint,
            kind=f"offer_{status}",
            summary=f"Owner {words[answer]} the offer",
            actor="owner",
            detail={"answer": answer, "comment": comment, "was": offer["status"]},
        )
        if answer == "wrong" and offer["finding_id"] is not None:
            _false_alarm(conn, offer, at=at, touchpoint=touchpoint, comment=comment)
        return AnswerOutcome(True, status)


def _false_alarm(
    conn: psycopg.Connection, offer: dict, *, at: datetime, touchpoint: str, comment: str | None
) -> None:
    """The owner says the finding is wrong: the finding becomes a false alarm, and the
    verdict goes to `finding_feedback` for detector tuning."""
    row = conn.execute(
        "UPDATE findings SET status = 'false_alarm', resolved_at = coalesce(resolved_at, %s),"
        " updated_at = %s WHERE finding_id = %s AND status = 'open'"
        " RETURNING fault_kind, detector",
        (at, at, offer["finding_id"]),
    ).fetchone()
    if row is None:
        row = conn.execute(
            "SELECT fault_kind, detector FROM findings WHERE finding_id = %s",
            (offer["finding_id"],),
        ).fetchone()
    if row is None:
        return
    conn.execute(
        "INSERT INTO finding_feedback (ts, finding_id, device_id, fault_kind, detector, verdict,"
        " source, offer_id, comment) VALUES (%s, %s, %s, %s, %s, 'false_alarm', %s, %s, %s)",
        (
            at,
            offer["finding_id"],
            offer["device_id"],
            row[0],
            row[1],
            touchpoint,
            offer["offer_id"],
            comment,
        ),
    )
    interaction(
        conn,
        ts=at,
        touchpoint=touchpoint,
        kind="false_alarm_reported",
        summary=f"Owner reported the {row[0]} finding as a false alarm",
        device_id=offer["device_id"],
        customer_id=offer["customer_id"],
        offer_id=offer["offer_id"],
        finding_id=offer["finding_id"],
        actor="owner",
        detail={"detector": row[1], "comment": comment},
    )


def mark_viewed(
    conn: psycopg.Connection, offer_id: object, *, at: datetime, touchpoint: str
) -> bool:
    """The owner opened the offer (its web page): sent/delivered -> viewed."""
    with conn.transaction():
        offer = load_offer(conn, offer_id, lock=True)
        if offer is None or offer["status"] not in ("sent", "delivered"):
            return False
        conn.execute(
            "UPDATE offers SET status = 'viewed', viewed_at = %s,"
            " delivered_at = coalesce(delivered_at, %s), updated_at = %s WHERE offer_id = %s",
            (at, at, at, offer["offer_id"]),
        )
        offer_interaction(
            conn,
            offer,
            ts=at,
            touchpoint=touchpoint,
            kind="offer_viewed",
            summary="Owner opened the offer",
            actor="owner",
        )
        return True


def process_responses(conn: psycopg.Connection, now: datetime, limit: int = 1000) -> dict[str, int]:
    """Apply the answers devices sent (rows ingest wrote to `offer_responses`)."""
    counts: dict[str, int] = {}
    rows = conn.execute(
        "SELECT device_id, offer_id, answer, answered_at, comment FROM offer_responses"
        " WHERE processed_at IS NULL ORDER BY received_at, answered_at LIMIT %s",
        (limit,),
    ).fetchall()
    for device_id, wire_id, answer, answered_at, comment in rows:
        offer_id = parse_offer_id(wire_id)
        if offer_id is None:
            outcome = AnswerOutcome(False, "unknown", "not an offer id")
        else:
            outcome = apply_answer(
                conn,
                offer_id,
                answer,
                at=min(answered_at, now),
                touchpoint="device_app",
                comment=comment,
                device_id=device_id,
            )
        if not outcome.applied:
            log.info(
                "answer %s to offer %s of %s not applied: %s",
                answer,
                wire_id,
                device_id,
                outcome.detail,
            )
        key = outcome.status if outcome.applied else "ignored"
        counts[key] = counts.get(key, 0) + 1
        conn.execute(
            "UPDATE offer_responses SET processed_at = %s WHERE device_id = %s AND offer_id = %s"
            " AND answered_at = %s",
            (now, device_id, wire_id, answered_at),
        )
    return counts


def close_offers(
    conn: psycopg.Connection,
    now: datetime,
    *,
    status: str,
    where: str,
    summary: str,
    params: dict | None = None,
) -> list[dict]:
    """Move every offer matching `where` to `status` (expired/resolved), with its interaction."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"UPDATE offers o SET status = %(status)s, closed_at = %(now)s, updated_at = %(now)s,"  # noqa: S608 - fixed fragments
            f" next_attempt_at = NULL WHERE {where} RETURNING o.*",
            {"status": status, "now": now} | (params or {}),
        ).fetchall()
        for offer in rows:
            offer_interaction(
                conn, offer, ts=now, touchpoint="system", kind=f"offer_{status}", summary=summary
            )
        return rows


def expire(conn: psycopg.Connection, now: datetime) -> list[dict]:
    return close_offers(
        conn,
        now,
        status="expired",
        where="o.status IN ('created', 'sent', 'delivered', 'viewed') AND o.expires_at <= %(now)s",
        summary="Offer expired unanswered",
    )


def resolve(conn: psycopg.Connection, now: datetime) -> list[dict]:
    """Offers whose finding resolved (live or accepted ones) become `resolved`; so do live
    offers whose finding someone else (support, a detector) declared a false alarm."""
    return close_offers(
        conn,
        now,
        status="resolved",
        where="o.status IN ('created', 'sent', 'delivered', 'viewed', 'accepted')"
        " AND EXISTS (SELECT 1 FROM findings f WHERE f.finding_id = o.finding_id"
        " AND coalesce(f.resolved_at, f.updated_at) <= %(now)s AND (f.status = 'resolved'"
        " OR (f.status = 'false_alarm' AND o.status <> 'accepted')))",
        summary="The fault behind the offer resolved",
    )


def infer_delivered(conn: psycopg.Connection, now: datetime) -> int:
    """An offer on the device channel reached the device once the device was seen after it
    was sent: the agent's persistent session gets queued QoS 1 messages on connecting."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "UPDATE offers o SET status = 'delivered', delivered_at = %(now)s, updated_at = %(now)s"
            " FROM devices d WHERE d.device_id = o.device_id AND o.status = 'sent'"
            " AND o.channel = 'device' AND d.last_seen_at > o.sent_at RETURNING o.*",
            {"now": now},
        ).fetchall()
        for offer in rows:
            offer_interaction(
                conn,
                offer,
                ts=now,
                touchpoint="device_app",
                kind="offer_delivered",
                summary="Offer reached the device",
            )
        return len(rows)
