"""`create_app(settings)`: the FastAPI application; the connection pool lives in its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from psycopg_pool import ConnectionPool

from api.middleware import RequestLimits
from api.routes import offers
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
    app.include_router(offers.router)
    app.add_middleware(RequestLimits)
    return app
