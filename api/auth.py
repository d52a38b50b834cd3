"""Who is calling: staff API keys with roles, and customers with their own token.

Every protected request carries `Authorization: Bearer <token>`:

- a staff API key, `dck_` + 43 random characters (256 bits), created with
  `devicecare api keys create`; only its SHA-256 is stored, so it is shown once. Its
  role says what it may do: `support`, `engineer` or `admin`;
- a customer token, `dcc_<customer id>_<HMAC>`, signed with the link secret like the
  offers' answer links (nothing stored); it opens the customer's own records only.

No or an unknown token is 401; a known one without the route's role is 403; a customer
asking for a record that is not theirs gets 404, so that ids cannot be probed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.deps import Clock, Conn, LinkSecret
from care import store

KEY_PREFIX = "dck_"
CUSTOMER_PREFIX = "dcc_"


class Role(StrEnum):
    SUPPORT = "support"
    ENGINEER = "engineer"
    ADMIN = "admin"
    CUSTOMER = "customer"


STAFF = (Role.SUPPORT, Role.ENGINEER, Role.ADMIN)
STAFF_ROLES = frozenset(STAFF)


@dataclass(frozen=True, slots=True)
class Principal:
    role: Role
    name: str
    customer_id: uuid.UUID | None = None

    @property
    def actor(self) -> str:
        """How the audit log and the timeline name the caller."""
        if self.customer_id is not None:
            return f"customer:{self.customer_id}"
        return f"{self.role.value}:{self.name}"


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def customer_token(secret: bytes, customer_id: uuid.UUID) -> str:
    digest = hmac.new(secret, b"customer:" + str(customer_id).encode(), hashlib.sha256).digest()
    mac = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return f"{CUSTOMER_PREFIX}{customer_id}_{mac}"


def _customer(secret: bytes, token: str) -> uuid.UUID | None:
    body = token.removeprefix(CUSTOMER_PREFIX)
    raw_id, _, _ = body.partition("_")
    try:
        customer_id = uuid.UUID(raw_id)
    except ValueError:
        return None
    if hmac.compare_digest(customer_token(secret, customer_id), token):
        return customer_id
    return None


_bearer = HTTPBearer(auto_error=False, description="A staff API key or a customer token.")


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def authenticate(
    conn: Conn,
    secret: LinkSecret,
    clock: Clock,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise _unauthorized("credentials required: Authorization: Bearer <key or token>")
    token = credentials.credentials
    if token.startswith(CUSTOMER_PREFIX):
        customer_id = _customer(secret, token)
        if customer_id is not None:
            return Principal(Role.CUSTOMER, str(customer_id), customer_id)
    elif token.startswith(KEY_PREFIX):
        row = store.key_by_secret(conn, token, clock())
        if row is not None:
            return Principal(Role(row[2]), row[1])
    raise _unauthorized("unknown or revoked credentials")


def allow(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency that admits only the given roles (403 for the others)."""
    allowed = frozenset(roles)

    def check(
        principal: Annotated[Principal, Depends(authenticate)], request: Request
    ) -> Principal:
        if principal.role not in allowed:
            raise HTTPException(
                403, detail=f"role {principal.role.value} may not {request.method} this resource"
            )
        return principal

    check.allowed = allowed  # type: ignore[attr-defined]
    return check


def own_device(conn: Conn, principal: Principal, device_id: str) -> None:
    """404 unless the device exists and, for a customer, is theirs."""
    exists, owner = store.device_owner(conn, device_id)
    if not exists or (principal.customer_id is not None and owner != principal.customer_id):
        raise HTTPException(404, detail=f"no device {device_id!r}")


def own_customer(principal: Principal, customer_id: uuid.UUID) -> None:
    if principal.customer_id is not None and principal.customer_id != customer_id:
        raise HTTPException(404, detail=f"no customer {customer_id}")


Anyone = Annotated[Principal, Depends(allow(*STAFF, Role.CUSTOMER))]
Staff = Annotated[Principal, Depends(allow(*STAFF))]
Support = Annotated[Principal, Depends(allow(Role.SUPPORT, Role.ADMIN))]
Engineer = Annotated[Principal, Depends(allow(Role.ENGINEER, Role.ADMIN))]
Admin = Annotated[Principal, Depends(allow(Role.ADMIN))]
OwnerOrAdmin = Annotated[Principal, Depends(allow(Role.ADMIN, Role.CUSTOMER))]
OwnerOrSupport = Annotated[Principal, Depends(allow(Role.SUPPORT, Role.ADMIN, Role.CUSTOMER))]
