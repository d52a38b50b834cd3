"""Interactions: a hotline agent, a store or the web app records a contact with a customer.

The contact lands in the `interactions` table, so it appears at once on the device's and
the customer's timelines.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import psycopg
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Support, own_device
from api.deps import Clock, Conn
from api.problems import responses
from care import store
from devicecare.contracts.topics import DEVICE_ID_PATTERN
from devicecare.contracts.vocabulary import TouchPoint

router = APIRouter(prefix="/interactions", tags=["interactions"])


class InteractionCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "device_id": "sim-2a-00042",
                    "touchpoint": "hotline",
                    "kind": "call",
                    "summary": "Owner reports the phone gets hot while charging overnight.",
                }
            ]
        },
    )

    device_id: Annotated[str | None, Field(pattern=DEVICE_ID_PATTERN)] = None
    customer_id: uuid.UUID | None = None
    touchpoint: TouchPoint
    kind: Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[a-z][a-z0-9_]*$")]
    summary: Annotated[str, Field(min_length=1, max_length=2000)]
    offer_id: uuid.UUID | None = None
    finding_id: Annotated[int | None, Field(ge=1, le=2**62)] = None


class InteractionPublic(BaseModel):
    interaction_id: int
    ts: datetime
    device_id: str | None
    customer_id: uuid.UUID | None
    touchpoint: TouchPoint
    kind: str
    summary: str
    actor: str


@router.post(
    "", status_code=201, response_model=InteractionPublic, responses=responses(401, 403, 404, 422)
)
def record_interaction(
    body: InteractionCreate, conn: Conn, principal: Support, clock: Clock
) -> InteractionPublic:
    """Record a contact; give the device, the customer or both."""
    customer_id = body.customer_id
    if body.device_id is not None:
        own_device(conn, principal, body.device_id)
        _, owner = store.device_owner(conn, body.device_id)
        if customer_id is None:
            customer_id = owner
    elif customer_id is None:
        raise HTTPException(422, detail="device_id or customer_id: give at least one")
    if customer_id is not None and store.customer(conn, customer_id) is None:
        raise HTTPException(404, detail=f"no customer {customer_id}")
    try:
        interaction_id, ts = store.add_interaction(
            conn,
            ts=clock(),
            customer_id=customer_id,
            device_id=body.device_id,
            touchpoint=body.touchpoint.value,
            kind=body.kind,
            offer_id=body.offer_id,
            finding_id=body.finding_id,
            actor=principal.actor,
            summary=body.summary,
        )
    except psycopg.errors.ForeignKeyViolation as exc:
        raise HTTPException(422, detail="offer_id or finding_id: no such record") from exc
    return InteractionPublic(
        interaction_id=interaction_id,
        ts=ts,
        device_id=body.device_id,
        customer_id=customer_id,
        touchpoint=body.touchpoint,
        kind=body.kind,
        summary=body.summary,
        actor=principal.actor,
    )
