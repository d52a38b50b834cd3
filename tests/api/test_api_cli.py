"""`devicecare api keys` and `devicecare api customer-token` against the real database."""

from __future__ import annotations

import re
import uuid

import psycopg
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from cli.app import app
from devicecare.config import Settings
from notifier.store import create_customer
from tests.support.notifier_support import LINK_SECRET, notifier_settings

pytestmark = pytest.mark.integration


def test_keys_are_shown_once_stored_hashed_and_revocable(
    stack: Settings, db_url: str, db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEVICECARE_DATABASE_URL", db_url)
    monkeypatch.setenv("DEVICECARE_NOTIFIER__LINK_SECRET", LINK_SECRET)
    runner = CliRunner()
    created = runner.invoke(
        app, ["api", "keys", "create", "--name", "hotline", "--role", "support"]
    )
    assert created.exit_code == 0, created.output
    key = re.search(r"dck_[A-Za-z0-9_-]{43}", created.output)
    assert key is not None
    stored = db.execute("SELECT role, hash FROM api_keys").fetchall()
    assert len(stored) == 1 and stored[0][0] == "support"
    assert key.group().encode() not in stored[0][1]
    bad = runner.invoke(app, ["api", "keys", "create", "--name", "x", "--role", "root"])
    assert bad.exit_code == 2

    customer = create_customer(db, name="Carol")
    printed = runner.invoke(app, ["api", "customer-token", customer])
    assert printed.exit_code == 0
    customer_token = printed.output.strip()

    client_app = create_app(notifier_settings(stack), database=db_url)
    with TestClient(client_app) as client:
        staff = {"authorization": f"Bearer {key.group()}"}
        assert client.get("/devices", headers=staff).status_code == 200
        own = client.get(
            f"/customers/{customer}", headers={"authorization": f"Bearer {customer_token}"}
        )
        assert own.json()["name"] == "Carol"
        listed = runner.invoke(app, ["api", "keys", "list"])
        assert "hotline" in listed.output and key.group() not in listed.output
        key_id = str(db.execute("SELECT key_id FROM api_keys").fetchone()[0])
        assert runner.invoke(app, ["api", "keys", "revoke", key_id]).exit_code == 0
        assert client.get("/devices", headers=staff).status_code == 401
        assert runner.invoke(app, ["api", "keys", "revoke", str(uuid.uuid4())]).exit_code == 2
    actions = [r[0] for r in db.execute("SELECT action FROM audit_log ORDER BY audit_id")]
    assert actions == ["key_created", "key_revoked"]
