"""A real browser for page tests: Debian's Chromium driven by Playwright, and a live server.

Browser builds cannot be downloaded here, so Playwright drives the system's Chromium
(`scripts/setup` installs it) through `executable_path`. Requests to anything but the
loopback server are aborted, so a page that needs the internet fails its test.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, Route, sync_playwright

CHROMIUM = "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """Serve `app` with uvicorn on a free loopback port; yields its base URL."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the test server stopped while starting"
        assert time.monotonic() < deadline, "the test server did not start in 30 s"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless Debian Chromium; fails (never skips) when it is not installed."""
    path = shutil.which("chromium") or CHROMIUM
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def offline_page(browser: Browser, base_url: str, blocked: list[tuple[str, str]]) -> Page:
    """A page that may load only from `base_url`; other requests are aborted and listed.

    Each entry of `blocked` is (resource type, URL), e.g. ("script", "https://cdn...").
    """
    page = browser.new_page()

    def only_local(route: Route) -> None:
        if route.request.url.startswith(base_url):
            route.continue_()
        else:
            blocked.append((route.request.resource_type, route.request.url))
            route.abort()

    page.route("**/*", only_local)
    return page
