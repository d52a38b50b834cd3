"""The offer life cycle and the customer's timeline.

created -> sent -> delivered -> viewed -> accepted | declined, and at any live point
expired (time) or resolved (the finding resolved; also after accepted). Every change is
an `interactions` row on the device's and customer's timeline, written in the same
transaction as the change. Answers come from the device (`offer_responses`, written by
ingest) or from a signed web link (the API); both go through `apply_answer`. The SQL is
in `notifier.store`; what an answer means (`answer_status`) is decided here.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from devicecare.contracts.vocabulary import Answer, OfferStatus, TouchPoint
from notifier import store, tasks
from notifier.channels.base import REMINDER_SUFFIX
from notifier.store import Interaction, OfferRow

log = logging.getLogger(__name__)

ANSWERABLE = frozenset({*(s for s in OfferStatus if s.live), OfferStatus.EXPIRED})
"""An offer can be answered while live, and also after it expired unanswered."""
STATUS_OF_ANSWER = {
    Answer.ACCEPT: OfferStatus.ACCEPTED,
    Answer.DISMISS: OfferStatus.DECLINED,
    Answer.WRONG: OfferStatus.DECLINED,
}
ANSWER_WORDS = {
    Answer.ACCEPT: "accepted",
    Answer.DISMISS: "dismissed",
    Answer.WRONG: "reported as wrong",
}
VIEWABLE = frozenset({OfferStatus.SENT, OfferStatus.DELIVERED})


def parse_offer_id(wire_id: str) -> uuid.UUID | None:
    """The offer behind an id the device answered (a reminder's id included)."""
    text = wire_id.removesuffix(REMINDER_SUFFIX)
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def load_offer(conn: psycopg.Connection, offer_id: object) -> dict[str, Any] | None:
    """An offer as a mapping of its columns (what the answer pages render)."""
    row = store.offer(conn, offer_id)
    return None if row is None else row.as_dict()


@dataclass(frozen=True)
class AnswerOutcome:
    applied: bool
    status: str
    detail: str = ""


def answer_status(
    offer: OfferRow | None, answer: Answer, device_id: str | None
) -> OfferStatus | AnswerOutcome:
    """The status the answer moves the offer to, or why it changes nothing."""
    if offer is None or (device_id is not None and offer.device_id != device_id):
        return AnswerOutcome(False, "unknown", "no such offer for this device")
    if offer.status not in ANSWERABLE:
        return AnswerOutcome(False, offer.status.value, f"offer is already {offer.status}")
    return STATUS_OF_ANSWER[answer]


def apply_answer(
    conn: psycopg.Connection,
    offer_id: object,
    answer: str,
    *,
    at: datetime,
    touchpoint: TouchPoint | str,
    comment: str | None = None,
    device_id: str | None = None,
) -> AnswerOutcome:
    """Record the owner's answer; `wrong` also marks the finding a false alarm, and
    accepting a store diagnostic or call-back opens a task (the comment is the slot asked).

    Runs in one transaction. An answer to an offer that is already answered, resolved or
    unknown changes nothing (the same answer twice is not an error).
    """
    choice, where = Answer(answer), TouchPoint(touchpoint)
    with conn.transaction():
        offer = store.offer(conn, offer_id, lock=True)
        status = answer_status(offer, choice, device_id)
        if isinstance(status, AnswerOutcome):
            return status
        assert offer is not None
        store.record_answer(conn, offer.offer_id, choice, status, at)
        store.add_interaction(
            conn,
            Interaction.of_offer(
                offer,
                ts=at,
                touchpoint=where,
                kind=f"offer_{status}",
                summary=f"Owner {ANSWER_WORDS[choice]} the offer",
                actor="owner",
                detail={"answer": choice, "comment": comment, "was": offer.status},
            ),
        )
        if choice is Answer.ACCEPT:
            task = tasks.task_for_accepted(offer, at, comment)
            if task is not None:
                store.add_interaction(conn, task)
        if choice is Answer.WRONG and offer.finding_id is not None:
            _false_alarm(conn, offer, at=at, touchpoint=where, comment=comment)
        return AnswerOutcome(True, status.value)


def _false_alarm(
    conn: psycopg.Connection,
    offer: OfferRow,
    *,
    at: datetime,
    touchpoint: TouchPoint,
    comment: str | None,
) -> None:
    """The owner says the finding is wrong: the finding becomes a false alarm, and the
    verdict goes to `finding_feedback` for detector tuning."""
    assert offer.finding_id is not None
    found = store.mark_false_alarm(conn, offer.finding_id, at)
    if found is None:
        return
    fault_kind, detector = found
    store.record_false_alarm(
        conn,
        offer,
        fault_kind=fault_kind,
        detector=detector,
        at=at,
        source=touchpoint,
        comment=comment,
    )
    store.add_interaction(
        conn,
        Interaction(
            ts=at,
            touchpoint=touchpoint,
            kind="false_alarm_reported",
            summary=f"Owner reported the {fault_kind} finding as a false alarm",
            device_id=offer.device_id,
            customer_id=offer.customer_id,
            offer_id=offer.offer_id,
            finding_id=offer.finding_id,
            actor="owner",
            detail={"detector": detector, "comment": comment},
        ),
    )


def mark_viewed(
    conn: psycopg.Connection, offer_id: object, *, at: datetime, touchpoint: TouchPoint | str
) -> bool:
    """The owner opened the offer (its web page): sent/delivered -> viewed."""
    with conn.transaction():
        offer = store.offer(conn, offer_id, lock=True)
        if offer is None or offer.status not in VIEWABLE:
            return False
        store.mark_viewed(conn, offer.offer_id, at)
        store.add_interaction(
            conn,
            Interaction.of_offer(
                offer,
                ts=at,
                touchpoint=TouchPoint(touchpoint),
                kind="offer_viewed",
                summary="Owner opened the offer",
                actor="owner",
            ),
        )
        return True


def process_responses(conn: psycopg.Connection, now: datetime, limit: int = 1000) -> dict[str, int]:
    """Apply the answers devices sent (rows ingest wrote to `offer_responses`)."""
    counts: dict[str, int] = {}
    for response in store.pending_responses(conn, limit):
        offer_id = parse_offer_id(response.offer_id)
        if offer_id is None:
            outcome = AnswerOutcome(False, "unknown", "not an offer id")
        else:
            outcome = apply_answer(
                conn,
                offer_id,
                response.answer,
                at=min(response.answered_at, now),
                touchpoint=TouchPoint.DEVICE_APP,
                comment=response.comment,
                device_id=response.device_id,
            )
        if not outcome.applied:
            log.info(
                "answer %s to offer %s of %s not applied: %s",
                response.answer,
                response.offer_id,
                response.device_id,
                outcome.detail,
            )
        key = outcome.status if outcome.applied else "ignored"
        counts[key] = counts.get(key, 0) + 1
        store.response_done(conn, response, now)
    return counts


def closed(
    conn: psycopg.Connection, offers: list[OfferRow], now: datetime, summary: str
) -> list[OfferRow]:
    """Put offers just closed on the timeline (`offer_<status>`); returns them."""
    for offer in offers:
        store.add_interaction(
            conn,
            Interaction.of_offer(
                offer,
                ts=now,
                touchpoint=TouchPoint.SYSTEM,
                kind=f"offer_{offer.status}",
                summary=summary,
            ),
        )
    return offers


def supersede(conn: psycopg.Connection, offer_id: object, now: datetime) -> None:
    """A live offer gives way to one for a more severe finding: it expires."""
    with conn.transaction():
        closed(
            conn,
            store.close_offer(conn, offer_id, OfferStatus.EXPIRED, now),
            now,
            "Offer replaced by one for a more severe finding",
        )


def expire(conn: psycopg.Connection, now: datetime) -> list[OfferRow]:
    """Live offers past their expiry become `expired`."""
    with conn.transaction():
        return closed(conn, store.expire_due(conn, now), now, "Offer expired unanswered")


def resolve(conn: psycopg.Connection, now: datetime) -> list[OfferRow]:
    """Offers whose finding resolved (live or accepted ones) become `resolved`; so do live
    offers whose finding someone else (support, a detector) declared a false alarm."""
    with conn.transaction():
        return closed(
            conn, store.close_resolved(conn, now), now, "The fault behind the offer resolved"
        )


def infer_delivered(conn: psycopg.Connection, now: datetime) -> int:
    """An offer on the device channel reached the device once the device was seen after it
    was sent: the agent's persistent session gets queued QoS 1 messages on connecting."""
    with conn.transaction():
        offers = store.mark_delivered_when_seen(conn, "device", now)
        for offer in offers:
            store.add_interaction(
                conn,
                Interaction.of_offer(
                    offer,
                    ts=now,
                    touchpoint=TouchPoint.DEVICE_APP,
                    kind="offer_delivered",
                    summary="Offer reached the device",
                ),
            )
        return len(offers)
