"""Repair triage: a verdict on the owner's complaint, the repair bench's outcome, and the
service's own measured verdict precision and No-Fault-Found rate.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Staff, Support
from api.deps import Clock, Cohorts, Conn
from api.problems import responses
from care import store
from care.service import run_triage
from care.triage import Complaint, RepairOutcome, Verdict
from devicecare.contracts.topics import DEVICE_ID_PATTERN
from devicecare.contracts.vocabulary import TouchPoint

router = APIRouter(tags=["triage"])

DeviceId = Annotated[str, Path(pattern=DEVICE_ID_PATTERN)]


class TriageCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "complaint": "battery",
                    "text": "Battery is empty by noon since last week.",
                    "touchpoint": "hotline",
                }
            ]
        },
    )

    complaint: Complaint
    text: Annotated[str | None, Field(max_length=2000)] = None
    touchpoint: TouchPoint = TouchPoint.HOTLINE


class EvidencePublic(BaseModel):
    text: str = Field(examples=["battery health 71.0%, cohort median 88.0%, 3th percentile"])
    metric: str | None = None
    value: float | None = None
    baseline: float | None = None
    cohort_median: float | None = None
    cohort_percentile: float | None = None


class TriagePublic(BaseModel):
    triage_id: uuid.UUID
    device_id: str
    ts: datetime
    complaint: Complaint
    verdict: Verdict
    confidence: float
    advice: str
    evidence: list[EvidencePublic]
    outcome: RepairOutcome | None = None


class OutcomeCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"outcome": "no_fault_found", "note": "Battery 97%."}]},
    )

    outcome: RepairOutcome
    note: Annotated[str | None, Field(max_length=2000)] = None


class VerdictStats(BaseModel):
    verdict: Verdict
    triages: int
    with_outcome: int
    fault_found: int
    no_fault_found: int
    precision: float | None = Field(
        description="Share of outcomes that agree with the verdict (fault found for a repair"
        " verdict, none found for a no-fault verdict)."
    )


class TriageStats(BaseModel):
    verdicts: list[VerdictStats]
    repairs_with_outcome: int
    nff_rate: float | None = Field(
        description="Share of devices sent to repair (repair verdicts with an outcome) that"
        " came back No Fault Found."
    )


def _public(row: dict) -> TriagePublic:
    return TriagePublic.model_validate(row)


@router.post(
    "/devices/{device_id}/triage",
    status_code=201,
    response_model=TriagePublic,
    responses=responses(401, 403, 404, 422),
)
def triage_device(
    device_id: DeviceId,
    body: TriageCreate,
    *,
    conn: Conn,
    cohorts: Cohorts,
    principal: Support,
    clock: Clock,
) -> TriagePublic:
    """Is the device really faulty? A verdict with its evidence, recorded on the timeline."""
    device = store.device(conn, device_id)
    if device is None:
        raise HTTPException(404, detail=f"no device {device_id!r}")
    decision, _ = run_triage(conn, cohorts, device, body.complaint)
    now = clock()
    evidence = [asdict(o) for o in decision.evidence]
    with conn.transaction():
        triage_id = store.add_triage(
            conn,
            device_id=device_id,
            customer_id=device["customer_id"],
            ts=now,
            touchpoint=body.touchpoint.value,
            actor=principal.actor,
            complaint=body.complaint.value,
            note=body.text,
            verdict=decision.verdict.value,
            confidence=decision.confidence,
            evidence=evidence,
            advice=decision.advice,
        )
        store.add_interaction(
            conn,
            ts=now,
            customer_id=device["customer_id"],
            device_id=device_id,
            touchpoint=body.touchpoint.value,
            kind="triage_verdict",
            actor=principal.actor,
            summary=f"{body.complaint.value} complaint: {decision.verdict.value}"
            f" ({decision.confidence:.0%}). {decision.advice}",
            detail={"triage_id": str(triage_id), "verdict": decision.verdict.value},
        )
    row = store.triage(conn, triage_id)
    assert row is not None
    return _public(row)


@router.get(
    "/triage/{triage_id}", response_model=TriagePublic, responses=responses(401, 403, 404, 422)
)
def get_triage(triage_id: uuid.UUID, conn: Conn, _principal: Staff) -> TriagePublic:
    """One triage with its evidence and, once recorded, the repair bench's outcome."""
    row = store.triage(conn, triage_id)
    if row is None:
        raise HTTPException(404, detail=f"no triage {triage_id}")
    return _public(row)


@router.post(
    "/triage/{triage_id}/outcome",
    response_model=TriagePublic,
    responses=responses(401, 403, 404, 409, 422),
)
def record_outcome(
    triage_id: uuid.UUID, body: OutcomeCreate, conn: Conn, principal: Support, clock: Clock
) -> TriagePublic:
    """What the repair bench found; recorded once, and on the timeline."""
    row = store.triage(conn, triage_id)
    if row is None:
        raise HTTPException(404, detail=f"no triage {triage_id}")
    now = clock()
    with conn.transaction():
        if not store.set_outcome(conn, triage_id, body.outcome.value, now, body.note):
            raise HTTPException(409, detail=f"outcome already recorded: {row['outcome']}")
        store.add_interaction(
            conn,
            ts=now,
            customer_id=row["customer_id"],
            device_id=row["device_id"],
            touchpoint=TouchPoint.STORE.value,
            kind="repair_outcome",
            actor=principal.actor,
            summary=f"repair bench: {body.outcome.value}"
            + (f" ({body.note})" if body.note else ""),
            detail={"triage_id": str(triage_id), "verdict": row["verdict"]},
        )
    updated = store.triage(conn, triage_id)
    assert updated is not None
    return _public(updated)


@router.get("/stats/triage", response_model=TriageStats, responses=responses(401, 403, 422))
def triage_stats(
    conn: Conn,
    _principal: Staff,
    since: Annotated[datetime | None, Query(description="Triages at or after.")] = None,
) -> TriageStats:
    """Measured verdict precision per verdict and the No-Fault-Found rate of repairs."""
    verdicts = []
    repairs = nff = 0
    for row in store.triage_stats(conn, since):
        verdict = Verdict(row["verdict"])
        right = row["fault_found"] if verdict.sends_to_repair else row["no_fault_found"]
        if verdict.sends_to_repair:
            repairs += row["with_outcome"]
            nff += row["no_fault_found"]
        precision = right / row["with_outcome"] if row["with_outcome"] else None
        verdicts.append(VerdictStats(**row, precision=precision))
    return TriageStats(
        verdicts=verdicts, repairs_with_outcome=repairs, nff_rate=nff / repairs if repairs else None
    )
