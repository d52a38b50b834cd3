"""Tasks: the store visits and call-backs someone has to do, listed and closed by support.

A task is an interaction with a status: the notifier opens one when the owner accepts a
store diagnostic or a call-back (with the slot they asked for), or when a declined
safety finding escalates to the hotline. Closing it records the result, which feeds the
detectors: `fault_found` confirms the finding (`finding_feedback` verdict `confirmed`),
`no_fault_found` makes it a false alarm.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Principal, Support
from api.deps import Clock, Conn
from api.pagination import Cursor, Limit, Page, after
from api.problems import responses
from care import store
from care.store import encode_cursor
from devicecare.contracts.topics import DEVICE_ID_PATTERN
from devicecare.contracts.vocabulary import (
    FeedbackVerdict,
    FindingStatus,
    TaskResult,
    TaskStatus,
    TouchPoint,
)

router = APIRouter(prefix="/tasks", tags=["tasks"])

VERDICT = {
    TaskResult.FAULT_FOUND: FeedbackVerdict.CONFIRMED,
    TaskResult.NO_FAULT_FOUND: FeedbackVerdict.FALSE_ALARM,
}
"""The `finding_feedback` verdict a task's result gives its finding."""


class TaskPublic(BaseModel):
    task_id: int
    ts: datetime
    device_id: str | None
    customer_id: uuid.UUID | None
    touchpoint: TouchPoint
    kind: str
    summary: str
    offer_id: uuid.UUID | None
    finding_id: int | None
    slot: str | None = Field(description="The time the owner asked for, as they gave it.")
    status: TaskStatus
    due_at: datetime | None
    closed_at: datetime | None
    result: TaskResult | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> TaskPublic:
        return cls(task_id=row["interaction_id"], slot=row["detail"].get("slot"), **row)


class TaskClose(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"result": "fault_found", "note": "Battery swollen; replaced in store."}]
        },
    )

    result: TaskResult
    note: Annotated[str | None, Field(max_length=2000)] = None


@router.get("", response_model=Page[TaskPublic], responses=responses(401, 403, 422))
def list_tasks(
    *,
    conn: Conn,
    principal: Support,
    status: TaskStatus | None = None,
    touchpoint: TouchPoint | None = None,
    device_id: Annotated[str | None, Query(pattern=DEVICE_ID_PATTERN)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[TaskPublic]:
    """Tasks, oldest first (`status=open`: what is still to do)."""
    position = after(cursor, 1)
    rows = store.list_tasks(
        conn,
        limit + 1,
        status=status.value if status else None,
        touchpoint=touchpoint.value if touchpoint else None,
        device_id=device_id,
        after=int(position[0]) if position and isinstance(position[0], int) else None,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[TaskPublic](
        items=[TaskPublic.of(r) for r in rows],
        next_cursor=encode_cursor(rows[-1]["interaction_id"]) if more else None,
    )


@router.post(
    "/{task_id}/close", response_model=TaskPublic, responses=responses(401, 403, 404, 409, 422)
)
def close_task(
    task_id: Annotated[int, Path(ge=1, le=2**62)],
    body: TaskClose,
    conn: Conn,
    principal: Support,
    clock: Clock,
) -> TaskPublic:
    """Close an open task with its result; the finding is confirmed or becomes a false alarm,
    and the closing goes on the timeline."""
    at = clock()
    with conn.transaction():
        row = store.close_task(
            conn,
            interaction_id=task_id,
            at=at,
            result=body.result.value,
            closed=TaskStatus.CLOSED.value,
            open=TaskStatus.OPEN.value,
            detail={"closed_by": principal.actor, "note": body.note},
        )
        if row is None:
            existing = store.task(conn, task_id)
            if existing is None:
                raise HTTPException(404, detail=f"no task {task_id}")
            raise HTTPException(409, detail=f"task {task_id} is already {existing['status']}")
        _feedback(conn, row, body, principal, at)
    return TaskPublic.of(row)


def _feedback(
    conn: Conn, row: dict[str, Any], body: TaskClose, principal: Principal, at: datetime
) -> None:
    """The result's verdict on the task's finding, and the closing on the timeline."""
    finding_id = row["finding_id"]
    found = store.finding_for_feedback(conn, finding_id) if finding_id is not None else None
    if found is not None:
        fault_kind, detector, _ = found
        if body.result is TaskResult.NO_FAULT_FOUND:
            store.mark_finding_false_alarm(
                conn,
                finding_id=finding_id,
                at=at,
                open=FindingStatus.OPEN.value,
                false_alarm=FindingStatus.FALSE_ALARM.value,
            )
        store.add_feedback(
            conn,
            at=at,
            finding_id=finding_id,
            device_id=row["device_id"],
            fault_kind=fault_kind,
            detector=detector,
            verdict=VERDICT[body.result],
            source=row["touchpoint"],
            offer_id=row["offer_id"],
            comment=body.note,
        )
    store.add_interaction(
        conn,
        ts=at,
        customer_id=row["customer_id"],
        device_id=row["device_id"],
        touchpoint=row["touchpoint"],
        kind="task_closed",
        offer_id=row["offer_id"],
        finding_id=finding_id,
        actor=principal.actor,
        summary=f"Task {row['interaction_id']} closed: {body.result.value.replace('_', ' ')}",
        detail={"task_id": row["interaction_id"], "result": body.result.value, "note": body.note},
    )
