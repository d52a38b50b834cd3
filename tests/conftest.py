"""Fixtures: a real TimescaleDB and Mosquitto for the whole session, a fresh database per test.

The stack is the project-local one, started in a temporary state folder and stopped at
the end, unless DEVICECARE_DATABASE_URL / DEVICECARE_MQTT_URL point to servers to use
instead. When a service cannot start, the fixtures fail: nothing is skipped.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from devicecare.config import Settings, load_settings
from devicecare.db.migrate import migrate
from devicecare.endpoints import database_url
from devstack import local


@pytest.fixture(scope="session")
def stack() -> Iterator[Settings]:
    """Settings pointing at running services: the local stack, started here, or the URLs."""
    root = Path(tempfile.mkdtemp(prefix="devicecare-test-"))
    root.chmod(0o755)  # the servers run as their own accounts when we are root
    settings = load_settings(state_dir=root)
    try:
        local.up(settings)
        unhealthy = [s for s in local.status(settings) if not s.healthy]
        assert not unhealthy, f"test stack is not healthy: {unhealthy}"
        yield local.fill(settings)
    finally:
        local.down(settings)
        shutil.rmtree(root, ignore_errors=True)


def _admin(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True)


@pytest.fixture(scope="session")
def template_db(stack: Settings) -> str:
    """A migrated database that every test's database is copied from."""
    base = database_url(stack)
    name = f"devicecare_template_{os.getpid()}"
    with _admin(base) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    migrate(_with_database(base, name))
    with _admin(base) as conn:
        # TimescaleDB's job scheduler keeps a session in every database that has the
        # extension; a template must have none, so it takes no connections at all.
        conn.execute(
            sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(sql.Identifier(name))
        )
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
    return name


def _with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


@contextmanager
def _scratch_database(stack: Settings, template: str | None) -> Iterator[str]:
    base = database_url(stack)
    name = f"test_{uuid.uuid4().hex[:12]}"
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with _admin(base) as conn:
        conn.execute(create)
    try:
        yield _with_database(base, name)
    finally:
        with _admin(base) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def db_url(stack: Settings, template_db: str) -> Iterator[str]:
    """A fresh, migrated database for one test, dropped afterwards."""
    with _scratch_database(stack, template_db) as url:
        yield url


@pytest.fixture
def empty_db_url(stack: Settings) -> Iterator[str]:
    """A fresh database with no schema at all, dropped afterwards."""
    with _scratch_database(stack, None) as url:
        yield url


@pytest.fixture
def db(db_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def device_id() -> str:
    """A device id no other test uses, so MQTT traffic of tests cannot mix."""
    return f"dev-{uuid.uuid4().hex[:10]}"
