"""Cursor pagination shared by every list: `limit` and an opaque `cursor` in, `next_cursor` out."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import HTTPException, Query
from pydantic import BaseModel

from care.store import BadCursorError, decode_cursor

Limit = Annotated[int, Query(ge=1, le=500, description="Items per page.")]
Cursor = Annotated[
    str | None,
    Query(max_length=400, description="`next_cursor` of the previous page; omit for the first."),
]


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def after(cursor: str | None, arity: int) -> list[Any] | None:
    """The sort key a cursor holds; 422 naming `cursor` when it is not one of ours."""
    if cursor is None:
        return None
    try:
        return decode_cursor(cursor, arity)
    except BadCursorError as exc:
        raise HTTPException(422, detail=f"cursor: {exc}") from exc
