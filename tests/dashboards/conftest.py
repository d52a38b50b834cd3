"""A database seeded once with a small simulated fleet, shared by the dashboard tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest

from dashboards import rollups, seed
from devicecare.config import Settings
from tests.conftest import _scratch_database

NOW = datetime.now(UTC).replace(microsecond=0)
DEVICES = 40
DAYS = 35


@pytest.fixture(scope="session")
def seeded_url(stack: Settings, template_db: str) -> Iterator[str]:
    """A migrated database holding DEVICES simulated devices over DAYS days up to NOW,
    with the rollups refreshed. Tests read it and must not change it."""
    with _scratch_database(stack, template_db) as url:
        with psycopg.connect(url) as conn:
            seed.seed(conn, devices=DEVICES, days=DAYS, seed=11, faults="all=40", now=NOW)
        with psycopg.connect(url, autocommit=True) as conn:
            rollups.refresh(conn)
        yield url


@pytest.fixture
def seeded(seeded_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(seeded_url, autocommit=True) as conn:
        yield conn
