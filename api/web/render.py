"""Templates, the request's form fields and the friendly error page the routes share."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api.web.i18n import Translator, translator

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
MAX_FIELD = 2000
LANG_COOKIE = "dc_lang"


async def form_fields(request: Request) -> dict[str, list[str]]:
    """A URL-encoded form's fields (the body is at most 64 KiB: `RequestLimits`)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return parse_qs(body, keep_blank_values=True, max_num_fields=50)


def field(form: dict[str, list[str]], name: str) -> str:
    return (form.get(name) or [""])[0].strip()


def page(
    request: Request, name: str, t: Translator, status: int = 200, **context: Any
) -> HTMLResponse:
    response = templates.TemplateResponse(
        request, name, {"t": t, "lang": t.locale, **context}, status_code=status
    )
    if request.query_params.get("lang"):
        # a language chosen in the console's address is kept for its next pages
        response.set_cookie(LANG_COOKIE, t.locale, samesite="strict", path="/console")
    return response


def message(request: Request, locale: str | None, key: str, status: int) -> HTMLResponse:
    """A friendly page for an expired, tampered or missing link (nothing is changed)."""
    t = translator(locale)
    return page(request, "message.html", t, status, title=t(f"msg.{key}.title"), key=key)
