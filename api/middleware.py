"""Request limits in front of every route: body size, content type, no NUL characters.

A pure ASGI middleware, so that it holds for every route, present and future, before
FastAPI parses anything. A body is read completely (it is at most `max_body_bytes`)
and then handed to the application unchanged. Refusals are RFC 9457 problem documents:

- 413 when the body is larger than `max_body_bytes` (by Content-Length, or counted
  while reading a body sent without one);
- 415 when a body comes with a media type the API does not read;
- 400 when the path, the query or the body holds a NUL character (`%00`, `\\u0000`):
  PostgreSQL cannot store it in text, so it would otherwise surface as a 500.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

from devicecare.contracts.wire import has_nul

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Problem = tuple[int, str, str]
"""Status, title and detail of a refusal."""

MAX_BODY_BYTES: Final = 64 * 1024
BODY_TYPES: Final = frozenset(
    {"application/json", "application/x-www-form-urlencoded", "multipart/form-data"}
)
"""Media types a request body may have; a request without a body needs none."""


class RequestLimits:
    """Refuses oversized bodies (413), unread media types (415) and NUL characters (400)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int = MAX_BODY_BYTES,
        body_types: frozenset[str] = BODY_TYPES,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_types = body_types

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        problem = self._check_head(scope, headers)
        if problem is None and (b"content-length" in headers or b"transfer-encoding" in headers):
            body = await self._read(receive)
            problem = self._check_body(headers, body)
            receive = _replay(body or b"", receive)
        if problem is not None:
            await _problem(send, *problem)
            return
        await self.app(scope, receive, send)

    def _check_head(self, scope: Scope, headers: dict[bytes, bytes]) -> Problem | None:
        raw_path = scope.get("raw_path") or scope["path"].encode()
        if _has_nul_escape(raw_path) or _has_nul_escape(scope.get("query_string", b"")):
            return 400, "Bad Request", "NUL character in the path or query"
        length = headers.get(b"content-length", b"").strip()
        if length and (not length.isdigit() or int(length) > self.max_body_bytes):
            return 413, "Content Too Large", self._too_large()
        return None

    def _check_body(self, headers: dict[bytes, bytes], body: bytes | None) -> Problem | None:
        if body is None:
            return 413, "Content Too Large", self._too_large()
        if not body:
            return None
        media = headers.get(b"content-type", b"").split(b";")[0].strip().lower().decode("latin-1")
        if media not in self.body_types:
            detail = f"a request body must be one of {', '.join(sorted(self.body_types))}"
            return 415, "Unsupported Media Type", detail
        if _holds_nul(media, body):
            return 400, "Bad Request", "NUL character in the request body"
        return None

    def _too_large(self) -> str:
        return f"the request body is larger than {self.max_body_bytes} bytes"

    async def _read(self, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it exceeds the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _has_nul_escape(text: bytes) -> bool:
    """`%00` (URL encoding of NUL) or a raw NUL byte."""
    return b"\x00" in text or b"%00" in text


def _holds_nul(media: str, body: bytes) -> bool:
    """A NUL in a JSON or form body (a multipart part may be binary: left to its route)."""
    if media == "application/json":
        return has_nul(body)
    if media == "application/x-www-form-urlencoded":
        return _has_nul_escape(body)
    return False


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive channel that first hands out the body already read, then the rest."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _problem(send: Send, status: int, title: str, detail: str) -> None:
    """Answer with an RFC 9457 problem document."""
    body = json.dumps(
        {"type": "about:blank", "title": title, "status": status, "detail": detail}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
