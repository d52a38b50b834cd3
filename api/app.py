"""`create_app(settings)`: the FastAPI application; the connection pool lives in its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from psycopg_pool import ConnectionPool

from api import problems
from api.downlink import ConfigPublisher
from api.middleware import RequestLimits
from api.routes import (
    customers,
    devices,
    findings,
    fleet_alerts,
    health,
    interactions,
    offers,
    tasks,
    triage,
)
from api.web import pages
from care.service import CohortCache
from devicecare import __version__
from devicecare.config import Settings
from devicecare.endpoints import database_url
from notifier.signing import link_secret

DOCS_ASSETS = "/docs/assets"


def _now() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: Settings,
    *,
    database: str | None = None,
    clock: Callable[[], datetime] = _now,
    pool_size: int = 4,
) -> FastAPI:
    url = database or database_url(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = ConnectionPool(
            url, min_size=1, max_size=pool_size, kwargs={"autocommit": True}, open=False
        )
        pool.open(wait=True, timeout=30)
        app.state.pool = pool
        try:
            yield
        finally:
            pool.close()

    # Swagger UI and ReDoc from the installed package, not a CDN: the docs work offline.
    app = FastAPIOffline(
        title="DeviceCare", version=__version__, lifespan=lifespan, static_url=DOCS_ASSETS
    )
    app.state.link_secret = link_secret(settings)
    app.state.clock = clock
    app.state.cohorts = CohortCache()
    app.state.config_publisher = ConfigPublisher.from_settings(settings)
    problems.install(app)
    for module in (
        health,
        devices,
        customers,
        interactions,
        findings,
        offers,
        triage,
        fleet_alerts,
        tasks,
        pages,
    ):
        app.include_router(module.router)
    app.add_middleware(RequestLimits)
    return app
