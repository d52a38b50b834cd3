"""What follows an answer: tasks for accepted service offers, escalation after a decline.

Accepting a store diagnostic or a call-back opens a task (an interaction with status
`open`) for the store or the hotline; support lists and closes it through the care API.
A safety-relevant finding (the rules file's `[escalation]` table) that stays open after
its offer was declined escalates: a reminder, then a call-back task for the hotline.
`next_step` decides (pure); `escalate` writes the steps onto the timeline.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from enum import StrEnum

import psycopg

from devicecare.contracts.vocabulary import TaskStatus, TouchPoint
from notifier import store
from notifier.rules import Escalation
from notifier.store import DeclinedCase, Interaction, OfferRow

TASK_OF_OFFER: dict[str, tuple[TouchPoint, str]] = {
    "store_diagnostic": (TouchPoint.STORE, "store_visit_task"),
    "support_callback": (TouchPoint.HOTLINE, "callback_task"),
}
"""Offer kinds whose acceptance opens a task: where it is done, and the task's kind."""


class EscalationStep(StrEnum):
    """The escalation steps, in order; each is the kind of its timeline entry."""

    REMINDER = "escalation_reminder"
    CALLBACK = "escalation_callback_task"


def next_step(policy: Escalation, case: DeclinedCase, now: datetime) -> EscalationStep | None:
    """The escalation step due for `case` at `now`, or None (not escalating, not yet due,
    or every step taken). Steps are taken in order: a missed reminder comes first."""
    if not policy.applies(case.fault_kind, case.severity):
        return None
    waited = now - case.declined_at
    if EscalationStep.REMINDER not in case.steps:
        return EscalationStep.REMINDER if waited >= policy.reminder_after else None
    if EscalationStep.CALLBACK not in case.steps and waited >= policy.callback_after:
        return EscalationStep.CALLBACK
    return None


def escalate(conn: psycopg.Connection, policy: Escalation, now: datetime) -> dict[str, int]:
    """Take the escalation steps due at `now`; counts by step."""
    counts: dict[str, int] = {}
    if not policy.fault_kinds:
        return counts
    steps = [s.value for s in EscalationStep]
    with conn.transaction():
        for case in store.declined_open(conn, policy.fault_kinds, policy.severities, steps):
            step = next_step(policy, case, now)
            if step is None:
                continue
            store.add_interaction(conn, _entry(case, step, now))
            counts[step] = counts.get(step, 0) + 1
    return counts


def _entry(case: DeclinedCase, step: EscalationStep, now: datetime) -> Interaction:
    common = {
        "ts": now,
        "device_id": case.device_id,
        "customer_id": case.customer_id,
        "offer_id": case.offer_id,
        "finding_id": case.finding_id,
        "detail": {"declined_at": case.declined_at.isoformat(), "severity": case.severity},
    }
    if step is EscalationStep.REMINDER:
        return Interaction(
            touchpoint=TouchPoint.SYSTEM,
            kind=step,
            summary=f"Reminder: the {case.fault_kind} finding is still open after the owner "
            f"declined: {case.title}",
            **common,  # type: ignore[arg-type]
        )
    return Interaction(
        touchpoint=TouchPoint.HOTLINE,
        kind=step,
        summary=f"Call the owner back: the {case.fault_kind} finding is still open "
        f"after a decline and a reminder: {case.title}",
        status=TaskStatus.OPEN,
        due_at=now,
        **common,  # type: ignore[arg-type]
    )


def task_for_accepted(offer: OfferRow, at: datetime, slot: str | None) -> Interaction | None:
    """The task an accepted offer opens (store visit or call-back), or None for offers that
    need no one to act. `slot` is the time the owner asked for, as they gave it."""
    task = TASK_OF_OFFER.get(offer.kind)
    if task is None:
        return None
    touchpoint, kind = task
    entry = Interaction.of_offer(
        offer,
        ts=at,
        touchpoint=touchpoint,
        kind=kind,
        summary="Owner accepted; to do" + (f" (asked for: {slot})" if slot else ""),
        detail={"slot": slot},
    )
    return replace(entry, status=TaskStatus.OPEN, due_at=at)
