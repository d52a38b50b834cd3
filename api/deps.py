"""Dependencies the routes share, injected as `Annotated` aliases."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated

import psycopg
from fastapi import Depends, Request

from api.downlink import ConfigPublisher
from care.service import CohortCache


def get_conn(request: Request) -> Iterator[psycopg.Connection]:
    with request.app.state.pool.connection() as conn:
        yield conn


def get_link_secret(request: Request) -> bytes:
    return request.app.state.link_secret


def get_clock(request: Request) -> Callable[[], datetime]:
    return request.app.state.clock


Conn = Annotated[psycopg.Connection, Depends(get_conn)]
LinkSecret = Annotated[bytes, Depends(get_link_secret)]
Clock = Annotated[Callable[[], datetime], Depends(get_clock)]


def get_cohorts(request: Request) -> CohortCache:
    return request.app.state.cohorts


Cohorts = Annotated[CohortCache, Depends(get_cohorts)]


def get_publisher(request: Request) -> ConfigPublisher:
    return request.app.state.config_publisher


Publisher = Annotated[ConfigPublisher, Depends(get_publisher)]
