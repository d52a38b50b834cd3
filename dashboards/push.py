"""Upload the dashboards to an existing Grafana through `grafana-client`.

Dashboards go into one folder (uid `devicecare`) and overwrite earlier versions by uid;
a dashboard with the same uid that lives in another folder was not made by this command
and is left alone unless `force` is set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import niquests
from grafana_client import GrafanaApi
from grafana_client.client import (
    GrafanaClientError,
    GrafanaException,
    GrafanaUnauthorizedError,
)

from dashboards.catalog import FOLDER
from dashboards.errors import DashboardError

FOLDER_UID = "devicecare"
TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Pushed:
    uid: str
    title: str
    version: int | None


def push(
    url: str, token: str, dashboards: Mapping[str, Mapping[str, Any]], *, force: bool = False
) -> list[Pushed]:
    """Create the folder when missing, then upload every dashboard into it."""
    api = GrafanaApi.from_url(url, credential=token, timeout=TIMEOUT_S)
    try:
        api.health.check()  # build info: a URL that is not Grafana fails here, changing nothing
        _ensure_folder(api)
        for dashboard in dashboards.values():
            _may_overwrite(api, dashboard, force=force)
        pushed = []
        for dashboard in dashboards.values():
            body = {**dashboard, "id": None}
            answer = api.dashboard.update_dashboard(
                {
                    "dashboard": body,
                    "folderUid": FOLDER_UID,
                    "overwrite": True,
                    "message": "devicecare dashboards push",
                }
            )
            pushed.append(Pushed(body["uid"], body["title"], answer.get("version")))
        return pushed
    except GrafanaUnauthorizedError as exc:
        raise DashboardError(f"Grafana at {url} refused the token (401 Unauthorized)") from exc
    except GrafanaException as exc:
        raise DashboardError(
            f"Grafana at {url} answered {exc.status_code}: {str(exc.message)[:200]}"
            " (is the URL Grafana's, and may the token edit dashboards?)"
        ) from exc
    except niquests.exceptions.RequestException as exc:
        raise DashboardError(f"cannot reach Grafana at {url}: {exc}") from exc


def _ensure_folder(api: GrafanaApi) -> None:
    try:
        api.folder.get_folder(FOLDER_UID)
    except GrafanaClientError as exc:
        if exc.status_code != 404:  # noqa: PLR2004 - HTTP status
            raise
        api.folder.create_folder(FOLDER, uid=FOLDER_UID)


def _may_overwrite(api: GrafanaApi, dashboard: Mapping[str, Any], *, force: bool) -> None:
    try:
        found = api.dashboard.get_dashboard(dashboard["uid"])
    except GrafanaClientError as exc:
        if exc.status_code == 404:  # noqa: PLR2004 - HTTP status
            return
        raise
    folder = found.get("meta", {}).get("folderUid")
    if folder != FOLDER_UID and not force:
        raise DashboardError(
            f"{dashboard['title']}: Grafana already has uid {dashboard['uid']!r} in folder"
            f" {folder or 'General'!r}, not made by this command; use --force to overwrite"
        )
