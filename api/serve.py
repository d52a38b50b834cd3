"""The app as uvicorn's worker processes build it: settings read from the environment."""

from __future__ import annotations

from fastapi import FastAPI

from api.app import create_app
from devicecare import logsetup
from devicecare.config import load_settings


def app() -> FastAPI:
    settings = load_settings()
    logsetup.configure(settings.log_level)
    return create_app(settings, pool_size=settings.api.pool_size)
