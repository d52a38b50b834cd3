"""Fleet alerts: engineers release (or dismiss) the offers an offer storm holds back."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel

from api.auth import Engineer
from api.deps import Clock, Conn
from api.problems import responses
from care import store
from notifier import storm

router = APIRouter(prefix="/fleet-alerts", tags=["fleet alerts"])


class Released(BaseModel):
    alert_id: int
    released_findings: int


@router.post(
    "/{alert_id}/release",
    response_model=Released,
    responses=responses(401, 403, 404, 409, 422),
)
def release_alert(
    conn: Conn, principal: Engineer, clock: Clock, alert_id: int = Path(ge=1, le=2**62)
) -> Released:
    """Let the held offers of an open storm alert go out at the notifier's next pass."""
    row = conn.execute(
        "SELECT status FROM fleet_alerts WHERE alert_id = %s", (alert_id,)
    ).fetchone()
    if row is None:
        raise HTTPException(404, detail=f"no fleet alert {alert_id}")
    if row[0] != "open":
        raise HTTPException(409, detail=f"fleet alert {alert_id} is {row[0]}")
    now = clock()
    released = storm.release(conn, alert_id, now)
    store.audit(
        conn, now, principal.actor, "release_storm", f"fleet_alert:{alert_id}", findings=released
    )
    return Released(alert_id=alert_id, released_findings=released)
