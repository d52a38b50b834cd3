"""Findings: what the detectors found, with filters; a customer sees their own."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.auth import Anyone
from api.deps import Conn
from api.pagination import Cursor, Limit, Page, after
from api.problems import responses
from care import store
from care.store import encode_cursor
from devicecare.contracts.topics import DEVICE_ID_PATTERN
from devicecare.contracts.vocabulary import FaultKind, FindingStatus, Severity

router = APIRouter(prefix="/findings", tags=["findings"])


class FindingPublic(BaseModel):
    finding_id: int
    device_id: str
    fault_kind: str
    status: FindingStatus
    severity: Severity
    confidence: float
    onset_at: datetime | None
    detected_at: datetime
    resolved_at: datetime | None
    detector: str
    reason: str = Field(examples=["Battery capacity fell from 96% to 81% in three weeks."])


@router.get("", response_model=Page[FindingPublic], responses=responses(401, 403, 422))
def list_findings(
    *,
    conn: Conn,
    principal: Anyone,
    device_id: Annotated[str | None, Query(pattern=DEVICE_ID_PATTERN)] = None,
    kind: FaultKind | None = None,
    status: FindingStatus | None = None,
    severity: Severity | None = None,
    since: Annotated[datetime | None, Query(description="Detected at or after.")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[FindingPublic]:
    """Findings, newest first."""
    position = after(cursor, 1)
    rows = store.list_findings(
        conn,
        limit + 1,
        device_id=device_id,
        customer_id=principal.customer_id,
        kind=kind.value if kind else None,
        status=status.value if status else None,
        severity=severity.value if severity else None,
        since=since,
        after=int(position[0]) if position and isinstance(position[0], int) else None,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[FindingPublic](
        items=[FindingPublic.model_validate(r) for r in rows],
        next_cursor=encode_cursor(rows[-1]["finding_id"]) if more else None,
    )
