"""Where the demo writes: the stack's own database by default, never mixed with earlier
data; `--fresh` is the one way to start over in a database that holds devices."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql

from demo.pipeline import DemoError, demo_database, stack_database
from devicecare.config import Settings
from devicecare.endpoints import database_url

pytestmark = pytest.mark.integration


def test_the_default_is_the_stack_database(stack: Settings) -> None:
    assert database_url(stack).endswith("/" + stack_database(stack))


def test_a_database_with_devices_is_refused_unless_fresh(stack: Settings) -> None:
    name = f"test_demo_db_{uuid.uuid4().hex[:8]}"
    url = demo_database(stack, name, fresh=False)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO devices (device_id) VALUES ('earlier-phone')")
        with pytest.raises(
            DemoError, match=r"already holds data \(1 devices\): `devicecare demo --fresh`"
        ):
            demo_database(stack, name, fresh=False)
        assert demo_database(stack, name, fresh=True) == url
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM devices").fetchone() == (0,)
            assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone() != (0,)
    finally:
        admin = database_url(stack).rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
