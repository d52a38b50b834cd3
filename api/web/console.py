"""The support console: login with a staff API key, search, device view, timeline,
triage, recorded contacts, offers, and live updates while a device is open.

Actions call the API's route functions (`record_interaction`, `triage_device`), so the
console and the API record the same rows. An open device page polls `/live` every few
seconds (plain JS, `static/console.js`) and swaps in the fresh timeline, consent and
offers; without JavaScript the page is complete and a reload shows the same.
"""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from api import timelines
from api.auth import Principal, Role
from api.deps import Clock, Cohorts, Conn, LinkSecret
from api.routes.interactions import InteractionCreate, record_interaction
from api.routes.triage import TriageCreate, triage_device
from api.web import access, health
from api.web.i18n import translator
from api.web.render import LANG_COOKIE, MAX_FIELD, field, form_fields, page, templates
from care import store
from care.service import health_summary
from care.triage import Complaint
from devicecare.contracts.vocabulary import TouchPoint
from notifier import lifecycle
from notifier.signing import answer_token

router = APIRouter(prefix="/console", include_in_schema=False)

CHART_DAYS = 14
TIMELINE_ROWS = 50
SEARCH_ROWS = 50
LIVE_SECONDS = 3
RECORDABLE = (TouchPoint.HOTLINE, TouchPoint.STORE, TouchPoint.WEB, TouchPoint.EMAIL)

Form = Annotated[dict[str, list[str]], Depends(form_fields)]


def _lang(request: Request) -> str:
    wanted = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or ""
    if not wanted:
        wanted = request.headers.get("accept-language", "en")[:2]
    return wanted


def _agent(request: Request, secret: bytes, clock: Clock) -> Principal | None:
    return access.staff(secret, request.cookies.get(access.STAFF_COOKIE), clock())


def _to_login() -> Response:
    return RedirectResponse("/console/login", status_code=303)


@router.get("/login")
def login_page(request: Request) -> HTMLResponse:
    return page(request, "login.html", translator(_lang(request)), error="")


@router.post("/login")
def login(request: Request, form: Form, conn: Conn, secret: LinkSecret, clock: Clock) -> Response:
    """Exchange a staff API key for a signed session cookie (support or admin only)."""
    t = translator(_lang(request))
    key = field(form, "key")[:200]
    row = store.key_by_secret(conn, key, clock()) if key.startswith("dck_") else None
    if row is None or Role(row[2]) not in access.CONSOLE_ROLES:
        return page(request, "login.html", t, 401, error=t("login.refused"))
    response = RedirectResponse("/console", status_code=303)
    agent = Principal(Role(row[2]), row[1])
    response.set_cookie(
        access.STAFF_COOKIE,
        access.staff_cookie(secret, agent, clock()),
        max_age=access.STAFF_HOURS * 3600,
        httponly=True,
        samesite="strict",
        path="/console",
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = _to_login()
    response.delete_cookie(access.STAFF_COOKIE, path="/console")
    return response


@router.get("")
def search(request: Request, conn: Conn, secret: LinkSecret, clock: Clock) -> Response:
    """Search a customer (name, e-mail, id) or a device (id)."""
    agent = _agent(request, secret, clock)
    if agent is None:
        return _to_login()
    q = request.query_params.get("q", "").strip()[:100]
    hits = store.search(conn, q, SEARCH_ROWS) if q else []
    return page(request, "search.html", translator(_lang(request)), agent=agent, q=q, hits=hits)


def _live(conn: Conn, device_id: str, touchpoints: list[TouchPoint]) -> dict:
    """What changes while the page is open: the timeline, consent and offers."""
    entries = timelines.page(
        conn,
        TIMELINE_ROWS,
        None,
        touchpoints=touchpoints or None,
        since=None,
        until=None,
        device_id=device_id,
    ).items
    offers = store.list_offers(
        conn,
        20,
        device_id=device_id,
        customer_id=None,
        kind=None,
        status=None,
        after_ts=None,
        after_id=None,
    )
    return {"entries": entries, "offers": offers, "device": store.device(conn, device_id)}


def _touchpoints(request: Request) -> list[TouchPoint]:
    wanted = request.query_params.getlist("tp")
    return [tp for tp in TouchPoint if tp.value in wanted]


@router.get("/devices/{device_id}")
def device_page(
    device_id: str,
    *,
    request: Request,
    conn: Conn,
    cohorts: Cohorts,
    secret: LinkSecret,
    clock: Clock,
) -> Response:
    """The device: health vs cohort, charts over time, merged timeline, triage, contacts."""
    agent = _agent(request, secret, clock)
    if agent is None:
        return _to_login()
    t = translator(_lang(request))
    device = store.device(conn, device_id[:100])
    if device is None:
        return page(
            request, "message.html", t, 404, title=t("msg.not_found.title"), key="not_found"
        )
    summary = health_summary(conn, cohorts, device)
    days = health.daily(conn, device_id, device["data_at"], CHART_DAYS)
    rows = health.rows(summary, t)
    over_time = {
        r.figure: health.charts.series(days[r.figure], label=t(f"fig.{r.figure}")) for r in rows
    }
    result = None
    wanted = request.query_params.get("triage", "")
    try:
        result = store.triage(conn, uuid.UUID(wanted)) if wanted else None
    except ValueError:
        result = None
    if result is not None and result["device_id"] != device_id:
        result = None
    touchpoints = _touchpoints(request)
    customer = store.customer(conn, device["customer_id"]) if device["customer_id"] else None
    return page(
        request,
        "device.html",
        t,
        agent=agent,
        customer=customer,
        summary=summary,
        rows=rows,
        over_time=over_time,
        result=result,
        touchpoints=list(TouchPoint),
        chosen={tp.value for tp in touchpoints},
        recordable=RECORDABLE,
        complaints=list(Complaint),
        live_seconds=LIVE_SECONDS,
        max_field=MAX_FIELD,
        done=request.query_params.get("done", ""),
        error=request.query_params.get("error", ""),
        resent=request.query_params.get("resent", ""),
        **_live(conn, device_id, touchpoints),
    )


@router.get("/devices/{device_id}/live")
def live(
    device_id: str, request: Request, conn: Conn, secret: LinkSecret, clock: Clock
) -> Response:
    """The parts of the device page that others change, as an HTML fragment."""
    agent = _agent(request, secret, clock)
    if agent is None:
        return Response(status_code=401)
    if store.device(conn, device_id[:100]) is None:
        return Response(status_code=404)
    t = translator(_lang(request))
    return templates.TemplateResponse(
        request,
        "live.html",
        {"t": t, "lang": t.locale, **_live(conn, device_id, _touchpoints(request))},
    )


def _back(device_id: str, **query: str) -> Response:
    return RedirectResponse(f"/console/devices/{device_id}?{urlencode(query)}", status_code=303)


@router.post("/devices/{device_id}/triage")
def triage(
    device_id: str,
    *,
    request: Request,
    form: Form,
    conn: Conn,
    cohorts: Cohorts,
    secret: LinkSecret,
    clock: Clock,
) -> Response:
    """Triage the caller's complaint (the API's triage, on the timeline)."""
    agent = _agent(request, secret, clock)
    if agent is None:
        return _to_login()
    if store.device(conn, device_id[:100]) is None:
        return _back(device_id, error="not_found")
    try:
        body = TriageCreate(
            complaint=Complaint(field(form, "complaint")),
            text=field(form, "text") or None,
            touchpoint=TouchPoint(field(form, "touchpoint") or TouchPoint.HOTLINE.value),
        )
    except (ValueError, ValidationError):
        return _back(device_id, error="triage")
    verdict = triage_device(
        device_id, body, conn=conn, cohorts=cohorts, principal=agent, clock=clock
    )
    return _back(device_id, triage=str(verdict.triage_id))


@router.post("/devices/{device_id}/interactions")
def record(
    device_id: str, *, request: Request, form: Form, conn: Conn, secret: LinkSecret, clock: Clock
) -> Response:
    """Record the call or the store visit."""
    agent = _agent(request, secret, clock)
    if agent is None:
        return _to_login()
    try:
        body = InteractionCreate(
            device_id=device_id,
            touchpoint=TouchPoint(field(form, "touchpoint")),
            kind=field(form, "kind") or "call",
            summary=field(form, "summary"),
        )
    except (ValueError, ValidationError):
        return _back(device_id, error="interaction")
    record_interaction(body, conn=conn, principal=agent, clock=clock)
    return _back(device_id, done="recorded")


@router.post("/offers/{offer_id}/resend")
def resend(
    offer_id: uuid.UUID, request: Request, conn: Conn, secret: LinkSecret, clock: Clock
) -> Response:
    """Give the owner the offer's signed self-care link again (read out or sent by the
    agent); recorded on the timeline."""
    agent = _agent(request, secret, clock)
    if agent is None:
        return _to_login()
    full = lifecycle.load_offer(conn, offer_id)
    if full is None:
        return RedirectResponse("/console", status_code=303)
    store.add_interaction(
        conn,
        ts=clock(),
        customer_id=full["customer_id"],
        device_id=full["device_id"],
        touchpoint=TouchPoint.HOTLINE.value,
        kind="offer_resent",
        offer_id=offer_id,
        finding_id=full["finding_id"],
        actor=agent.actor,
        summary=f"Self-care link for offer '{full['title']}' given again",
    )
    link = f"/care/offer/{offer_id}?token={answer_token(secret, str(offer_id))}"
    return _back(full["device_id"], resent=link)
