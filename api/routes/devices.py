"""Devices: the list with filters, one device's health against its cohort, its timeline."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api import timelines
from api.auth import Anyone, OwnerOrSupport, own_device
from api.deps import Clock, Cohorts, Conn, Publisher
from api.pagination import Cursor, Limit, Page, after
from api.problems import responses
from care import store
from care.service import health_summary
from care.store import encode_cursor
from devicecare.contracts.topics import DEVICE_ID_PATTERN
from devicecare.contracts.vocabulary import FaultKind, TouchPoint

router = APIRouter(prefix="/devices", tags=["devices"])

DeviceId = Annotated[str, Path(pattern=DEVICE_ID_PATTERN, examples=["sim-2a-00042"])]


class DeviceListItem(BaseModel):
    device_id: str
    customer_id: uuid.UUID | None
    model: str | None
    os_name: str | None
    os_version: str | None
    agent_version: str | None
    status: str
    last_seen_at: datetime | None
    consent_telemetry: bool
    battery_health_pct: float | None = Field(description="Latest figure from the detectors.")
    open_findings: list[str]


class Figure(BaseModel):
    value: float | None
    cohort_median: float | None = None
    cohort_percentile: float | None = Field(
        default=None, description="Share of the cohort (same model and OS version) below, in %."
    )


class Health(BaseModel):
    data_at: datetime | None = Field(description="The device's latest sample; windows end here.")
    window_days: int
    samples: int = 0
    cohort_devices: int
    figures: dict[str, Figure] = Field(
        examples=[
            {
                "battery_health_pct": {
                    "value": 71.2,
                    "cohort_median": 88.0,
                    "cohort_percentile": 3.0,
                }
            }
        ]
    )


class Consent(BaseModel):
    telemetry: bool
    care_offers: bool
    email: bool
    changed_at: datetime | None


class DevicePublic(BaseModel):
    device_id: str
    customer_id: uuid.UUID | None
    model: str | None
    os_name: str | None
    os_version: str | None
    agent_version: str | None
    status: str
    last_seen_at: datetime | None
    registered_at: datetime
    consent: Consent
    health: Health


@router.get("", response_model=Page[DeviceListItem], responses=responses(401, 403, 422))
def list_devices(
    *,
    conn: Conn,
    principal: Anyone,
    model: Annotated[str | None, Query(max_length=100, examples=["Pixel 8"])] = None,
    os_version: Annotated[str | None, Query(max_length=50, examples=["14"])] = None,
    customer_id: uuid.UUID | None = None,
    open_finding: Annotated[
        FaultKind | None, Query(description="Only devices with an open finding of this kind.")
    ] = None,
    health_below: Annotated[
        float | None, Query(ge=0, le=100, description="Battery health % below this.")
    ] = None,
    silent_since: Annotated[
        datetime | None, Query(description="Not seen since this time (or never).")
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[DeviceListItem]:
    """Devices in id order; a customer sees only their own."""
    position = after(cursor, 1)
    if principal.customer_id is not None:
        customer_id = principal.customer_id
    rows = store.list_devices(
        conn,
        limit + 1,
        model=model,
        os_version=os_version,
        customer_id=customer_id,
        finding_kind=open_finding.value if open_finding else None,
        health_below=health_below,
        silent_since=silent_since,
        after=str(position[0]) if position else None,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[DeviceListItem](
        items=[DeviceListItem.model_validate(r) for r in rows],
        next_cursor=encode_cursor(rows[-1]["device_id"]) if more else None,
    )


@router.get("/{device_id}", response_model=DevicePublic, responses=responses(401, 403, 404, 422))
def get_device(
    device_id: DeviceId, conn: Conn, cohorts: Cohorts, principal: Anyone
) -> DevicePublic:
    """The device with its health figures of the last 7 days, each against its cohort."""
    row = store.device(conn, device_id)
    if row is None or (
        principal.customer_id is not None and row["customer_id"] != principal.customer_id
    ):
        raise HTTPException(404, detail=f"no device {device_id!r}")
    consent = Consent(
        telemetry=row["consent_telemetry"],
        care_offers=row["consent_care_offers"],
        email=row["consent_email"],
        changed_at=row["consent_changed_at"],
    )
    return DevicePublic(
        **{k: row[k] for k in DevicePublic.model_fields if k in row},
        consent=consent,
        health=Health.model_validate(health_summary(conn, cohorts, row)),
    )


@router.get(
    "/{device_id}/timeline",
    response_model=Page[timelines.TimelineEntry],
    responses=responses(401, 403, 404, 422),
)
def device_timeline(
    device_id: DeviceId,
    *,
    conn: Conn,
    principal: Anyone,
    touchpoint: timelines.TouchPoints = None,
    since: timelines.Since = None,
    until: timelines.Until = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[timelines.TimelineEntry]:
    """Everything that happened to the device at every touch point, newest first."""
    own_device(conn, principal, device_id)
    return timelines.page(
        conn, limit, cursor, touchpoints=touchpoint, since=since, until=until, device_id=device_id
    )


class ConsentUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"telemetry": False, "care_offers": True, "email": False}]},
    )

    telemetry: bool
    care_offers: bool
    email: bool


class ConsentChanged(BaseModel):
    device_id: str
    consent: Consent
    config_published: bool = Field(
        description="Whether the broker took the device's retained config (collectors off"
        " without telemetry consent); the consent is stored either way."
    )
    detail: str = ""


@router.put(
    "/{device_id}/consent",
    response_model=ConsentChanged,
    responses=responses(401, 403, 404, 422),
)
def change_consent(
    device_id: DeviceId,
    body: ConsentUpdate,
    *,
    conn: Conn,
    principal: OwnerOrSupport,
    clock: Clock,
    publisher: Publisher,
) -> ConsentChanged:
    """The owner's consent per purpose; withdrawing telemetry consent turns the device's
    collectors off through its retained config. Audited and on the timeline."""
    own_device(conn, principal, device_id)
    now = clock()
    with conn.transaction():
        store.set_consent(conn, device_id, now, **body.model_dump())
        _, owner = store.device_owner(conn, device_id)
        given = [name for name, on in body.model_dump().items() if on]
        store.add_interaction(
            conn,
            ts=now,
            customer_id=owner,
            device_id=device_id,
            touchpoint=(TouchPoint.WEB if principal.customer_id else TouchPoint.HOTLINE).value,
            kind="consent_changed",
            actor=principal.actor,
            summary="consent now: " + (", ".join(given) or "none"),
            detail=body.model_dump(),
        )
        store.audit(
            conn, now, principal.actor, "consent", f"device:{device_id}", **body.model_dump()
        )
    problem = publisher.consent(conn, device_id, body.telemetry, now, principal.actor)
    return ConsentChanged(
        device_id=device_id,
        consent=Consent(**body.model_dump(), changed_at=now),
        config_published=problem is None,
        detail=problem or "",
    )
