"""A local HTTP server standing in for Grafana's HTTP API, for `dashboards push` tests.

It keeps folders and dashboards in memory and answers the few endpoints `grafana-client`
calls for an upload: build info, folder by uid, folder creation, dashboard by uid, dashboard
save. A request without `Authorization: Bearer <token>` gets 401, as from Grafana.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class GrafanaState:
    token: str
    folders: dict[str, str] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    """uid -> {"dashboard": ..., "folderUid": ...}"""


def _handler(state: GrafanaState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorised(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {state.token}":
                return True
            self._send(401, {"message": "Unauthorized"})
            return False

        def do_GET(self) -> None:
            if not self._authorised():
                return
            if self.path == "/api/frontend/settings":
                self._send(200, {"buildInfo": {"version": "11.3.1"}})
            elif self.path.startswith("/api/folders/"):
                uid = self.path.rsplit("/", 1)[1]
                if uid in state.folders:
                    self._send(200, {"uid": uid, "title": state.folders[uid]})
                else:
                    self._send(404, {"message": "folder not found"})
            elif self.path.startswith("/api/dashboards/uid/"):
                uid = self.path.rsplit("/", 1)[1]
                if uid in state.dashboards:
                    saved = state.dashboards[uid]
                    meta = {"folderUid": saved["folderUid"]}
                    self._send(200, {"dashboard": saved["dashboard"], "meta": meta})
                else:
                    self._send(404, {"message": "Dashboard not found"})
            else:
                self._send(404, {"message": "not found"})

        def do_POST(self) -> None:
            if not self._authorised():
                return
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path == "/api/folders":
                state.folders[body["uid"]] = body["title"]
                self._send(200, {"uid": body["uid"], "title": body["title"]})
            elif self.path == "/api/dashboards/db":
                uid = body["dashboard"]["uid"]
                version = state.dashboards.get(uid, {}).get("version", 0) + 1
                state.dashboards[uid] = {
                    "dashboard": body["dashboard"],
                    "folderUid": body.get("folderUid"),
                    "version": version,
                }
                self._send(200, {"status": "success", "uid": uid, "version": version})
            else:
                self._send(404, {"message": "not found"})

        def log_message(self, *_: object) -> None:
            return

    return Handler


@contextmanager
def grafana_stand_in(token: str) -> Iterator[tuple[str, GrafanaState]]:
    """A running stand-in on a free loopback port: its base URL and its state."""
    state = GrafanaState(token)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
