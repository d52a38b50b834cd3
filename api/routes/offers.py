"""Offers: the list for staff and customers, and the answer links.

The list (`GET /offers`) needs an API key or a customer token (a customer sees their own
offers only). The answer links are for the customer who got the offer:

Every request carries the link's HMAC token (`notifier.signing.answer_token`); a wrong
or tampered token gets 403 and changes nothing. GET only shows the offer (and marks it
viewed), so a mail scanner that follows links cannot answer for the customer; the page's
buttons POST the answer.
"""

from __future__ import annotations

import html
import uuid
from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel

from api.auth import Anyone
from api.deps import Clock, Conn, LinkSecret
from api.pagination import Cursor, Limit, Page, after
from api.problems import responses
from care import store
from care.store import encode_cursor
from devicecare.contracts.topics import DEVICE_ID_PATTERN
from devicecare.contracts.vocabulary import Answer, OfferStatus
from notifier import lifecycle
from notifier.signing import verify_answer_token

router = APIRouter(prefix="/offers", tags=["offers"])


class OfferPublic(BaseModel):
    offer_id: uuid.UUID
    kind: str
    severity: str
    status: str
    locale: str
    title: str
    body: str


class AnswerPublic(BaseModel):
    offer_id: uuid.UUID
    status: str
    applied: bool
    detail: str = ""


LABELS: dict[str, dict[str, str]] = {
    "en": {
        Answer.ACCEPT: "Yes, please",
        Answer.DISMISS: "No, thanks",
        Answer.WRONG: "This is not right",
        "done": "Thank you, your answer is recorded.",
        "closed": "This offer is closed.",
        "care": "Your device's health, consent and help",
    },
    "de": {
        Answer.ACCEPT: "Ja, gerne",
        Answer.DISMISS: "Nein, danke",
        Answer.WRONG: "Das stimmt nicht",
        "done": "Danke, Ihre Antwort ist gespeichert.",
        "closed": "Dieses Angebot ist beendet.",
        "care": "Zustand Ihres Geräts, Einwilligung und Hilfe",
    },
}

Token = Annotated[str, Query(min_length=10, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]
"""The link's base64url HMAC; anything else is refused before it reaches the comparison."""


class OfferListItem(BaseModel):
    offer_id: uuid.UUID
    device_id: str
    customer_id: uuid.UUID | None
    finding_id: int | None
    fault_kind: str
    kind: str
    severity: str
    status: OfferStatus
    locale: str
    title: str
    channel: str | None
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    viewed_at: datetime | None
    answered_at: datetime | None
    answer: str | None
    closed_at: datetime | None
    held_reason: str | None


@router.get("", response_model=Page[OfferListItem], responses=responses(401, 403, 422))
def list_offers(
    *,
    conn: Conn,
    principal: Anyone,
    device_id: Annotated[str | None, Query(pattern=DEVICE_ID_PATTERN)] = None,
    customer_id: uuid.UUID | None = None,
    kind: Annotated[str | None, Query(max_length=100, examples=["battery_check"])] = None,
    status: OfferStatus | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[OfferListItem]:
    """Offers with their life cycle, newest first."""
    position = after(cursor, 2)
    after_ts = after_id = None
    if position is not None:
        try:
            after_ts, after_id = datetime.fromisoformat(position[0]), uuid.UUID(position[1])
        except (TypeError, ValueError, AttributeError) as exc:
            raise HTTPException(422, detail="cursor: not a cursor of this API") from exc
    if principal.customer_id is not None:
        customer_id = principal.customer_id
    rows = store.list_offers(
        conn,
        limit + 1,
        device_id=device_id,
        customer_id=customer_id,
        kind=kind,
        status=status.value if status else None,
        after_ts=after_ts,
        after_id=after_id,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows else None
    return Page[OfferListItem](
        items=[OfferListItem.model_validate(r) for r in rows],
        next_cursor=encode_cursor(last["created_at"], str(last["offer_id"]))
        if more and last
        else None,
    )


def _checked(conn: Conn, secret: bytes, offer_id: uuid.UUID, token: str) -> dict:
    if not verify_answer_token(secret, str(offer_id), token):
        raise HTTPException(status_code=403, detail="invalid link")
    offer = lifecycle.load_offer(conn, offer_id)
    if offer is None:
        raise HTTPException(status_code=404, detail="no such offer")
    return offer


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _page(offer: dict, token: str, note: str | None, only: Answer | None) -> str:
    labels = LABELS.get(offer["locale"], LABELS["en"])
    esc = html.escape
    parts = [
        f"<!doctype html><html lang='{esc(offer['locale'])}'><head><meta charset='utf-8'>",
        f"<title>{esc(offer['title'])}</title></head><body>",
        f"<h1>{esc(offer['title'])}</h1><p>{esc(offer['body'])}</p>",
    ]
    if note:
        parts.append(f"<p><strong>{esc(note)}</strong></p>")
    elif offer["status"] in lifecycle.ANSWERABLE:
        for choice in [only] if only else list(Answer):
            query = urlencode({"token": token, "answer": choice.value})
            parts.append(
                f"<form method='post' action='/offers/{offer['offer_id']}/answer?{esc(query)}'>"
                f"<button type='submit'>{esc(labels[choice])}</button></form>"
            )
    else:
        parts.append(f"<p>{esc(labels['closed'])}</p>")
    care = f"/care/offer/{offer['offer_id']}?{urlencode({'token': token})}"
    parts.append(f"<p><a href='{esc(care)}'>{esc(labels['care'])}</a></p>")
    return "".join(parts) + "</body></html>"


@router.get("/{offer_id}/answer", response_model=OfferPublic)
def show_offer(
    offer_id: uuid.UUID,
    *,
    token: Token,
    request: Request,
    conn: Conn,
    secret: LinkSecret,
    clock: Clock,
    answer: Answer | None = None,
) -> Response:
    """The offer behind a link; opening it marks the offer viewed."""
    offer = _checked(conn, secret, offer_id, token)
    if lifecycle.mark_viewed(conn, offer_id, at=clock(), touchpoint="web"):
        offer = lifecycle.load_offer(conn, offer_id) or offer
    if _wants_html(request):
        return HTMLResponse(_page(offer, token, None, answer))
    public = OfferPublic.model_validate(offer, from_attributes=False)
    return JSONResponse(public.model_dump(mode="json"))


@router.post("/{offer_id}/answer", response_model=AnswerPublic)
def answer_offer(
    offer_id: uuid.UUID,
    *,
    token: Token,
    answer: Answer,
    request: Request,
    conn: Conn,
    secret: LinkSecret,
    clock: Clock,
    comment: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """Accept, dismiss or report the offer as wrong (a false alarm)."""
    _checked(conn, secret, offer_id, token)
    outcome = lifecycle.apply_answer(
        conn, offer_id, answer.value, at=clock(), touchpoint="web", comment=comment
    )
    if not outcome.applied and outcome.status not in ("accepted", "declined"):
        raise HTTPException(status_code=409, detail=outcome.detail)
    offer = lifecycle.load_offer(conn, offer_id)
    assert offer is not None
    if _wants_html(request):
        labels = LABELS.get(offer["locale"], LABELS["en"])
        note = labels["done"] if outcome.applied else labels["closed"]
        return HTMLResponse(_page(offer, token, note, None))
    public = AnswerPublic(
        offer_id=offer_id, status=offer["status"], applied=outcome.applied, detail=outcome.detail
    )
    return JSONResponse(public.model_dump(mode="json"))
