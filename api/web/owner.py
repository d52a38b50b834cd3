"""The owner's self-care page: health in plain language, offers, consent, "I have a problem".

Reached with a customer token (`/care?token=dcc_...`) or an offer's signed link
(`/care/offer/{id}?token=...`); either sets a signed owner cookie and redirects to
`/care`, so the token leaves the address bar. Every action goes through the same code as
the API: offer answers through `notifier.lifecycle.apply_answer`, consent through the
`PUT /devices/{id}/consent` route function (which publishes the device's config), the
problem through the `POST /devices/{id}/triage` route function (on the timeline).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from api.auth import CUSTOMER_PREFIX, Principal, customer_token
from api.deps import Clock, Cohorts, Conn, LinkSecret, Publisher
from api.routes.devices import ConsentUpdate, change_consent
from api.routes.triage import TriageCreate, triage_device
from api.web import access, health
from api.web.i18n import translator
from api.web.render import MAX_FIELD, field, form_fields, message, page
from care import store
from care.service import health_summary
from care.triage import Complaint
from devicecare.contracts.vocabulary import Answer, TouchPoint
from notifier import lifecycle
from notifier.rules import load_rules
from notifier.signing import verify_answer_token

router = APIRouter(prefix="/care", include_in_schema=False)

SERVICE_KINDS = frozenset(name for name, kind in load_rules().offers.items() if kind.service)
"""Offer kinds that are a repair, a store visit or a call-back (the shipped rules)."""
CALLBACK_KIND = "support_callback"
PHONE_MAX = 30
PHONE_MIN = 5
COMMENT_MAX = 500
"""As the answer route's `comment` query parameter."""
SLOT_HOURS = (10, 15)
SLOT_DAYS = 3
SATURDAY = 5
"""`date.weekday()` of the first day without store slots."""

Form = Annotated[dict[str, list[str]], Depends(form_fields)]


def _customer_of(secret: bytes, token: str) -> uuid.UUID | None:
    raw_id = token.removeprefix(CUSTOMER_PREFIX).partition("_")[0]
    try:
        customer_id = uuid.UUID(raw_id)
    except ValueError:
        return None
    return customer_id if customer_token(secret, customer_id) == token else None


def _enter(customer_id: uuid.UUID, secret: bytes, at: datetime, anchor: str = "") -> Response:
    response = RedirectResponse("/care" + anchor, status_code=303)
    response.set_cookie(
        access.OWNER_COOKIE,
        access.owner_cookie(secret, customer_id, at),
        max_age=access.OWNER_DAYS * 86400,
        httponly=True,
        samesite="strict",
        path="/care",
    )
    return response


def _slots(now: datetime, timezone: str | None) -> list[str]:
    """Store slots offered to the owner: the next working days, morning and afternoon."""
    try:
        zone = ZoneInfo(timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    out: list[str] = []
    day = local.date()
    while len(out) < SLOT_DAYS * len(SLOT_HOURS):
        day += timedelta(days=1)
        if day.weekday() < SATURDAY:
            out += [f"{day.isoformat()} {hour:02d}:00" for hour in SLOT_HOURS]
    return out


@router.get("/offer/{offer_id}")
def enter_by_offer(
    offer_id: uuid.UUID, request: Request, conn: Conn, secret: LinkSecret, clock: Clock
) -> Response:
    """The offer's signed link: marks the offer viewed and opens the owner's page at it."""
    token = request.query_params.get("token", "")
    offer = lifecycle.load_offer(conn, offer_id)
    if offer is None or not verify_answer_token(secret, str(offer_id), token[:200]):
        return message(request, offer["locale"] if offer else None, "expired", 403)
    customer_id = offer["customer_id"] or store.device_owner(conn, offer["device_id"])[1]
    if customer_id is None:
        return message(request, offer["locale"], "expired", 403)
    lifecycle.mark_viewed(conn, offer_id, at=clock(), touchpoint=TouchPoint.WEB)
    return _enter(customer_id, secret, clock(), f"#offer-{offer_id}")


@router.get("")
def care_page(
    request: Request, conn: Conn, cohorts: Cohorts, secret: LinkSecret, clock: Clock
) -> Response:
    """The owner's devices, each with health, offers, consent and the problem form."""
    token = request.query_params.get("token")
    if token is not None:
        customer_id = _customer_of(secret, token[:200])
        if customer_id is None or store.customer(conn, customer_id) is None:
            return message(request, None, "expired", 403)
        return _enter(customer_id, secret, clock())
    principal = access.owner(secret, request.cookies.get(access.OWNER_COOKIE), clock())
    customer = principal and store.customer(conn, principal.customer_id)
    if principal is None or customer is None:
        return message(request, None, "no_session", 401)
    t = translator(customer["locale"])
    devices = []
    for row in store.customer_devices(conn, principal.customer_id):
        device = store.device(conn, row["device_id"])
        assert device is not None
        summary = health_summary(conn, cohorts, device)
        offers = [
            {**o, "body": (lifecycle.load_offer(conn, o["offer_id"]) or {}).get("body", "")}
            for o in store.list_offers(
                conn,
                20,
                device_id=device["device_id"],
                customer_id=None,
                kind=None,
                status=None,
                after_ts=None,
                after_id=None,
            )
        ]
        devices.append({"device": device, "rows": health.rows(summary, t), "offers": offers})
    result = None
    wanted = request.query_params.get("triage", "")
    try:
        triage_id = uuid.UUID(wanted) if wanted else None
    except ValueError:
        triage_id = None
    if triage_id is not None:
        row = store.triage(conn, triage_id)
        if row is not None and row["customer_id"] == principal.customer_id:
            result = row
    return page(
        request,
        "care.html",
        t,
        customer=customer,
        devices=devices,
        result=result,
        done=request.query_params.get("done", ""),
        error=request.query_params.get("error", ""),
        answerable={s.value for s in lifecycle.ANSWERABLE},
        service_kinds=SERVICE_KINDS,
        callback_kind=CALLBACK_KIND,
        slots=_slots(clock(), customer["timezone"]),
        complaints=list(Complaint),
        answers=list(Answer),
        max_field=MAX_FIELD,
        phone_max=PHONE_MAX,
        comment_max=COMMENT_MAX,
    )


def _owner_or_none(request: Request, secret: bytes, clock: Clock) -> Principal | None:
    return access.owner(secret, request.cookies.get(access.OWNER_COOKIE), clock())


def _back(anchor: str, **query: str) -> Response:
    return RedirectResponse(f"/care?{urlencode(query)}#{anchor}", status_code=303)


def _refusal(
    accepted_kind: str | None, *, slot: str, phone: str, comment: str | None, slots: list[str]
) -> str | None:
    """Why the answer's fields are refused (an `error.*` key), or None when they do."""
    if comment is not None and len(comment) > COMMENT_MAX:
        return "comment_too_long"
    if accepted_kind not in SERVICE_KINDS:
        return None
    if accepted_kind == CALLBACK_KIND:
        digits = phone.replace(" ", "").replace("-", "").removeprefix("+")
        if not digits.isdigit() or not PHONE_MIN <= len(phone) <= PHONE_MAX:
            return "phone"
        return None
    return None if slot in slots else "slot"


@router.post("/offers/{offer_id}")
def answer(
    offer_id: uuid.UUID,
    *,
    request: Request,
    form: Form,
    conn: Conn,
    secret: LinkSecret,
    clock: Clock,
) -> Response:
    """Accept (with a store slot or a call-back number), dismiss, or "this was wrong"."""
    principal = _owner_or_none(request, secret, clock)
    if principal is None:
        return message(request, None, "no_session", 401)
    offer = lifecycle.load_offer(conn, offer_id)
    owner = offer and (offer["customer_id"] or store.device_owner(conn, offer["device_id"])[1])
    if offer is None or owner != principal.customer_id:
        return message(request, None, "not_found", 404)
    anchor = f"offer-{offer_id}"
    try:
        choice = Answer(field(form, "answer"))
    except ValueError:
        return _back(anchor, error="answer")
    slot, phone = field(form, "slot"), field(form, "phone")
    comment = field(form, "comment") or None
    customer = store.customer(conn, principal.customer_id)
    refusal = _refusal(
        offer["kind"] if choice is Answer.ACCEPT else None,
        slot=slot,
        phone=phone,
        comment=comment,
        slots=_slots(clock(), customer["timezone"] if customer else None),
    )
    if refusal is not None:
        return _back(anchor, error=refusal)
    now = clock()
    with conn.transaction():
        outcome = lifecycle.apply_answer(
            conn, offer_id, choice.value, at=now, touchpoint=TouchPoint.WEB, comment=comment
        )
        if not (outcome.applied and choice is Answer.ACCEPT and offer["kind"] in SERVICE_KINDS):
            return _back(anchor, done="answered" if outcome.applied else "closed")
        callback = offer["kind"] == CALLBACK_KIND
        store.add_interaction(
            conn,
            ts=now,
            customer_id=principal.customer_id,
            device_id=offer["device_id"],
            touchpoint=(TouchPoint.HOTLINE if callback else TouchPoint.STORE).value,
            kind="callback_requested" if callback else "store_appointment",
            offer_id=offer_id,
            finding_id=offer["finding_id"],
            actor=principal.actor,
            summary=(f"Call back on {phone}" if callback else f"Store visit booked for {slot}"),
            detail={"phone": phone} if callback else {"slot": slot},
        )
    return _back(anchor, done="answered")


@router.post("/devices/{device_id}/consent")
def consent(
    device_id: str,
    *,
    request: Request,
    form: Form,
    conn: Conn,
    secret: LinkSecret,
    clock: Clock,
    publisher: Publisher,
) -> Response:
    """The owner's consent per purpose, through the API's consent route."""
    principal = _owner_or_none(request, secret, clock)
    if principal is None:
        return message(request, None, "no_session", 401)
    exists, owner = store.device_owner(conn, device_id)
    if not exists or owner != principal.customer_id:
        return message(request, None, "not_found", 404)
    body = ConsentUpdate(
        telemetry=field(form, "telemetry") == "on",
        care_offers=field(form, "care_offers") == "on",
        email=field(form, "email") == "on",
    )
    change_consent(
        device_id, body, conn=conn, principal=principal, clock=clock, publisher=publisher
    )
    return _back(f"consent-{device_id}", done="consent")


@router.post("/devices/{device_id}/problem")
def problem(
    device_id: str,
    *,
    request: Request,
    form: Form,
    conn: Conn,
    cohorts: Cohorts,
    secret: LinkSecret,
    clock: Clock,
) -> Response:
    """ "I have a problem": the triage of the API, answered in plain language."""
    principal = _owner_or_none(request, secret, clock)
    if principal is None:
        return message(request, None, "no_session", 401)
    exists, owner = store.device_owner(conn, device_id)
    if not exists or owner != principal.customer_id:
        return message(request, None, "not_found", 404)
    anchor = f"problem-{device_id}"
    text = field(form, "text")
    if len(text) > MAX_FIELD:
        return _back(anchor, error="too_long")
    try:
        complaint = Complaint(field(form, "complaint"))
    except ValueError:
        return _back(anchor, error="complaint")
    verdict = triage_device(
        device_id,
        TriageCreate(complaint=complaint, text=text or None, touchpoint=TouchPoint.WEB),
        conn=conn,
        cohorts=cohorts,
        principal=principal,
        clock=clock,
    )
    return _back(anchor, triage=str(verdict.triage_id))
