"""No input gets a 500: hostile tokens, NUL characters, huge or unreadable bodies."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.middleware import MAX_BODY_BYTES
from devicecare.config import Settings
from notifier.signing import answer_token
from tests.support.notifier_support import add_device, notifier_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def client(stack: Settings, db_url: str) -> Iterator[TestClient]:
    app = create_app(notifier_settings(stack), database=db_url)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def offer_path(client: TestClient, db: psycopg.Connection) -> str:
    """The answer path of a sent offer, with its valid token."""
    add_device(db, "phone")
    row = db.execute(
        "INSERT INTO offers (device_id, fault_kind, kind, severity, status, title, body)"
        " VALUES ('phone', 'battery_fade', 'battery_check', 'medium', 'sent', 'Check', 'Body')"
        " RETURNING offer_id"
    ).fetchone()
    assert row is not None
    token = answer_token(client.app.state.link_secret, str(row[0]))  # type: ignore[attr-defined]
    return f"/offers/{row[0]}/answer?token={token}"


def assert_problem(response: object, status: int) -> None:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    assert response.json()["status"] == status  # type: ignore[attr-defined]


def test_a_non_ascii_token_is_refused_not_a_server_error(client: TestClient) -> None:
    response = client.get(f"/offers/{uuid.uuid4()}/answer", params={"token": "é" * 12})
    assert response.status_code == 422


def test_a_nul_in_a_comment_is_refused_and_changes_nothing(
    client: TestClient, offer_path: str, db: psycopg.Connection
) -> None:
    assert_problem(client.post(f"{offer_path}&answer=accept&comment=a%00b"), 400)
    assert db.execute("SELECT status FROM offers").fetchone() == ("sent",)
    accepted = client.post(f"{offer_path}&answer=accept&comment=fine")
    assert (accepted.status_code, accepted.json()["status"]) == (200, "accepted")


@pytest.mark.parametrize("size", [MAX_BODY_BYTES + 1, 20 * 1024 * 1024])
def test_a_body_over_64_kib_is_refused_with_413(
    client: TestClient, offer_path: str, size: int
) -> None:
    response = client.post(
        f"{offer_path}&answer=accept",
        content=b"x" * size,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert_problem(response, 413)


def test_a_body_without_a_length_is_counted_while_it_is_read(
    client: TestClient, offer_path: str
) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b"x" * 1024

    response = client.post(
        f"{offer_path}&answer=accept",
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    assert_problem(response, 413)


def test_a_body_of_an_unread_media_type_is_refused_with_415(
    client: TestClient, offer_path: str
) -> None:
    response = client.post(
        f"{offer_path}&answer=accept", content=b"hello", headers={"content-type": "text/plain"}
    )
    assert_problem(response, 415)
    assert_problem(client.post(f"{offer_path}&answer=accept", content=b"{}"), 415)


def test_the_answer_forms_of_the_page_still_work(client: TestClient, offer_path: str) -> None:
    """A browser posts the page's forms with an empty form-encoded body."""
    response = client.post(
        f"{offer_path}&answer=dismiss",
        content=b"",
        headers={"content-type": "application/x-www-form-urlencoded", "accept": "text/html"},
    )
    assert response.status_code == 200
    small = client.post(
        f"{offer_path}&answer=dismiss",
        content=b'{"note": "ok"}',
        headers={"content-type": "application/json"},
    )
    assert small.status_code == 200
