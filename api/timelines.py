"""The merged timeline of a device or a customer, as both routers return it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import psycopg
from fastapi import HTTPException, Query
from pydantic import BaseModel, Field

from api.pagination import Page, after
from care import store
from care.store import encode_cursor
from devicecare.contracts.vocabulary import TouchPoint

TouchPoints = Annotated[
    list[TouchPoint] | None, Query(description="Only these touch points (repeat the parameter).")
]
Since = Annotated[datetime | None, Query(description="Entries at or after this time (ISO 8601).")]
Until = Annotated[datetime | None, Query(description="Entries before this time (ISO 8601).")]


class TimelineEntry(BaseModel):
    """One thing that happened: a finding opened or resolved, an offer's step, an answer,
    a consent change, a contact, a triage verdict or a repair outcome."""

    ts: datetime
    touchpoint: TouchPoint
    kind: str = Field(examples=["finding_opened", "offer_accepted", "triage_verdict"])
    summary: str
    device_id: str | None = None
    offer_id: uuid.UUID | None = None
    finding_id: int | None = None
    actor: str | None = None
    detail: dict[str, Any] = {}


def page(
    conn: psycopg.Connection,
    limit: int,
    cursor: str | None,
    *,
    touchpoints: list[TouchPoint] | None,
    since: datetime | None,
    until: datetime | None,
    **scope: object,
) -> Page[TimelineEntry]:
    position = after(cursor, 2)
    if position is not None:
        try:
            position[0] = datetime.fromisoformat(position[0])
        except (TypeError, ValueError) as exc:
            raise HTTPException(422, detail="cursor: not a cursor of this API") from exc
    rows = store.timeline(
        conn,
        limit + 1,
        touchpoints=[t.value for t in touchpoints] if touchpoints else None,
        since=since,
        until=until,
        after_ts=position[0] if position else None,
        after_key=position[1] if position else None,
        **scope,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    items = [TimelineEntry.model_validate(r) for r in rows]
    next_cursor = encode_cursor(rows[-1]["ts"], rows[-1]["key"]) if more else None
    return Page[TimelineEntry](items=items, next_cursor=next_cursor)
