"""Who is on a page: the owner (a signed cookie made from their customer token or an
offer's signed link) or a support agent (a signed cookie made from a staff API key).

Cookies are `<base64 JSON>.<HMAC-SHA256>` signed with the link secret, HttpOnly and
SameSite=Strict (forms post only from our own pages). A staff session carries the key's
name and role and lasts `STAFF_HOURS`; the key itself is never stored in the cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import datetime, timedelta

from api.auth import Principal, Role

OWNER_COOKIE = "dc_owner"
STAFF_COOKIE = "dc_staff"
STAFF_HOURS = 8
OWNER_DAYS = 30
CONSOLE_ROLES = frozenset({Role.SUPPORT, Role.ADMIN})
"""Roles that may use the console: those the API lets record contacts and run triage."""


def _mac(secret: bytes, body: str) -> str:
    digest = hmac.new(secret, b"web:" + body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(secret: bytes, payload: dict[str, str], at: datetime, lifetime: timedelta) -> str:
    data = {**payload, "exp": (at + lifetime).isoformat()}
    body = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{body}.{_mac(secret, body)}"


def unsign(secret: bytes, cookie: str | None, at: datetime) -> dict[str, str] | None:
    """The payload of a valid, unexpired cookie; None for anything else."""
    if not cookie or "." not in cookie:
        return None
    body, _, mac = cookie.partition(".")
    if not hmac.compare_digest(_mac(secret, body), mac):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        expires = datetime.fromisoformat(data["exp"])
    except (ValueError, KeyError, TypeError):
        return None
    return data if isinstance(data, dict) and at < expires else None


def owner_cookie(secret: bytes, customer_id: uuid.UUID, at: datetime) -> str:
    return sign(secret, {"customer": str(customer_id)}, at, timedelta(days=OWNER_DAYS))


def owner(secret: bytes, cookie: str | None, at: datetime) -> Principal | None:
    data = unsign(secret, cookie, at)
    if data is None or "customer" not in data:
        return None
    try:
        customer_id = uuid.UUID(data["customer"])
    except ValueError:
        return None
    return Principal(Role.CUSTOMER, str(customer_id), customer_id)


def staff_cookie(secret: bytes, principal: Principal, at: datetime) -> str:
    payload = {"name": principal.name, "role": principal.role.value}
    return sign(secret, payload, at, timedelta(hours=STAFF_HOURS))


def staff(secret: bytes, cookie: str | None, at: datetime) -> Principal | None:
    data = unsign(secret, cookie, at)
    if data is None or data.get("role") not in {r.value for r in CONSOLE_ROLES}:
        return None
    return Principal(Role(data["role"]), str(data.get("name", "")))
