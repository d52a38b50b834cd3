"""Customers: one customer with their devices, their merged timeline, export and erasure."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api import timelines
from api.auth import Admin, Anyone, OwnerOrAdmin, own_customer
from api.deps import Clock, Conn
from api.pagination import Cursor, Limit, Page
from api.problems import responses
from care import store

router = APIRouter(prefix="/customers", tags=["customers"])


class CustomerDevice(BaseModel):
    device_id: str
    model: str | None
    os_name: str | None
    os_version: str | None
    status: str
    last_seen_at: datetime | None
    consent_telemetry: bool
    consent_care_offers: bool
    consent_email: bool


class CustomerPublic(BaseModel):
    customer_id: uuid.UUID
    external_ref: str | None
    name: str | None
    email: str | None
    phone: str | None
    locale: str
    timezone: str
    created_at: datetime
    devices: list[CustomerDevice]


class Erased(BaseModel):
    customer_id: uuid.UUID
    erased: dict[str, int]


def _customer(conn: Conn, customer_id: uuid.UUID) -> dict:
    row = store.customer(conn, customer_id)
    if row is None:
        raise HTTPException(404, detail=f"no customer {customer_id}")
    return row


@router.get(
    "/{customer_id}", response_model=CustomerPublic, responses=responses(401, 403, 404, 422)
)
def get_customer(customer_id: uuid.UUID, conn: Conn, principal: Anyone) -> CustomerPublic:
    """The customer's contact details and devices."""
    own_customer(principal, customer_id)
    row = _customer(conn, customer_id)
    devices = [CustomerDevice.model_validate(d) for d in store.customer_devices(conn, customer_id)]
    return CustomerPublic(**row, devices=devices)


@router.get(
    "/{customer_id}/timeline",
    response_model=Page[timelines.TimelineEntry],
    responses=responses(401, 403, 404, 422),
)
def customer_timeline(
    customer_id: uuid.UUID,
    *,
    conn: Conn,
    principal: Anyone,
    touchpoint: timelines.TouchPoints = None,
    since: timelines.Since = None,
    until: timelines.Until = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[timelines.TimelineEntry]:
    """Everything at every touch point about the customer and all their devices."""
    own_customer(principal, customer_id)
    _customer(conn, customer_id)
    return timelines.page(
        conn,
        limit,
        cursor,
        touchpoints=touchpoint,
        since=since,
        until=until,
        customer_id=customer_id,
    )


@router.get("/{customer_id}/export", responses=responses(401, 403, 404, 422))
def export_customer(
    customer_id: uuid.UUID, conn: Conn, principal: OwnerOrAdmin, clock: Clock
) -> JSONResponse:
    """Everything stored about the customer and their devices, as one JSON document
    (telemetry as daily summaries); recorded in the audit log."""
    own_customer(principal, customer_id)
    row = _customer(conn, customer_id)
    document: dict[str, Any] = {"customer": row, **store.export(conn, customer_id)}
    now = clock()
    store.audit(conn, now, principal.actor, "export", f"customer:{customer_id}")
    document["exported_at"] = now
    return JSONResponse(jsonable_encoder(document))


@router.delete("/{customer_id}", response_model=Erased, responses=responses(401, 403, 404, 422))
def erase_customer(customer_id: uuid.UUID, conn: Conn, principal: Admin, clock: Clock) -> Erased:
    """Erase the customer and everything of their devices; only anonymous counters of
    what was erased remain. Recorded in the audit log (with counts, no personal data)."""
    _customer(conn, customer_id)
    now = clock()
    counts = store.erase(conn, customer_id, now)
    store.audit(conn, now, principal.actor, "erase", f"customer:{customer_id}", erased=counts)
    return Erased(customer_id=customer_id, erased=counts)
