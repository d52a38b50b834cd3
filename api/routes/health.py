"""Liveness and readiness for load balancers and orchestrators (no credentials needed)."""

from __future__ import annotations

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "The database is not reachable."}})
def readyz(request: Request) -> JSONResponse:
    """The database answers within two seconds."""
    try:
        with request.app.state.pool.connection(timeout=2.0) as conn:
            conn.execute("SELECT 1")
    except (psycopg.Error, TimeoutError) as exc:
        return JSONResponse({"status": "unavailable", "detail": type(exc).__name__}, 503)
    return JSONResponse({"status": "ready"})
