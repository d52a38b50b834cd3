"""The pages' signed cookies: a valid one opens, a tampered, expired or foreign one not."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from api.auth import Principal, Role
from api.web import access

SECRET = b"secret-for-cookies"
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_an_owner_cookie_opens_until_it_expires() -> None:
    customer = uuid.uuid4()
    cookie = access.owner_cookie(SECRET, customer, NOW)
    owner = access.owner(SECRET, cookie, NOW + timedelta(days=1))
    assert owner == Principal(Role.CUSTOMER, str(customer), customer)
    assert access.owner(SECRET, cookie, NOW + timedelta(days=access.OWNER_DAYS)) is None
    assert access.owner(b"another secret", cookie, NOW) is None


def test_tampered_or_malformed_cookies_open_nothing() -> None:
    cookie = access.owner_cookie(SECRET, uuid.uuid4(), NOW)
    body, _, mac = cookie.partition(".")
    other = access.owner_cookie(SECRET, uuid.uuid4(), NOW).partition(".")[0]
    for forged in (f"{other}.{mac}", f"{body}.{mac[:-2]}AA", body, "", None, "a.b.c"):
        assert access.owner(SECRET, forged, NOW) is None, forged


def test_a_staff_session_is_for_console_roles_only() -> None:
    agent = Principal(Role.SUPPORT, "hotline team")
    cookie = access.staff_cookie(SECRET, agent, NOW)
    assert access.staff(SECRET, cookie, NOW + timedelta(hours=1)) == agent
    assert access.staff(SECRET, cookie, NOW + timedelta(hours=access.STAFF_HOURS)) is None
    engineer = access.staff_cookie(SECRET, Principal(Role.ENGINEER, "eng"), NOW)
    assert access.staff(SECRET, engineer, NOW) is None
    owner = access.owner_cookie(SECRET, uuid.uuid4(), NOW)
    assert access.staff(SECRET, owner, NOW) is None
    assert access.owner(SECRET, cookie, NOW) is None
