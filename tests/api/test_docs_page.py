"""The API documentation works offline: Swagger UI and ReDoc from the package, in Chromium."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import DOCS_ASSETS, create_app
from devicecare.config import Settings
from tests.support.browser import chromium, live_server, offline_page

pytestmark = pytest.mark.integration


def test_docs_pages_render_every_operation_without_the_internet(
    stack: Settings, db_url: str
) -> None:
    app = create_app(stack, database=db_url)
    expected = set(app.openapi()["paths"])
    blocked: list[tuple[str, str]] = []
    with live_server(app) as base, chromium() as browser:
        page = offline_page(browser, base, blocked)
        page.goto(f"{base}/docs")
        page.wait_for_selector(".opblock", timeout=30_000)
        swagger = {
            p.replace("\u200b", "") for p in page.locator(".opblock-summary-path").all_inner_texts()
        }
        page.goto(f"{base}/redoc")
        page.wait_for_selector("h1", timeout=30_000)
        redoc = page.inner_text("body")
    assert swagger == expected
    assert "DeviceCare" in redoc and "Something went wrong" not in redoc
    # Everything the pages need comes from the app; ReDoc's bundle only asks for its own
    # "powered by" logo on its CDN, an image that the page renders without.
    assert [url for kind, url in blocked if kind != "image"] == []


def test_the_docs_name_no_cdn(stack: Settings, db_url: str) -> None:
    with TestClient(create_app(stack, database=db_url)) as client:
        for path in ("/docs", "/redoc"):
            html = client.get(path).text
            assert DOCS_ASSETS in html and "cdn" not in html.lower(), path
