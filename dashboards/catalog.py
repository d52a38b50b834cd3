"""The dashboards, their generated JSON files and the provisioning folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dashboards import care, device, fleet, pipeline
from dashboards.builder import Dashboard
from dashboards.errors import DashboardError

HERE = Path(__file__).resolve().parent
JSON_DIR = HERE / "json"
PROVISIONING_DIR = HERE / "provisioning"
FOLDER = "DeviceCare"


def all_dashboards() -> list[Dashboard]:
    return [fleet.build(), device.build(), care.build(), pipeline.build()]


def file_name(dashboard: Dashboard) -> str:
    return f"{dashboard.uid.removeprefix('devicecare-')}.json"


def render(dashboard: Dashboard) -> str:
    """The JSON text committed for `dashboard`: stable key order, two-space indent."""
    return json.dumps(dashboard.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def build(out_dir: Path = JSON_DIR) -> list[Path]:
    """Write every dashboard's JSON into `out_dir`; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for dashboard in all_dashboards():
        path = out_dir / file_name(dashboard)
        path.write_text(render(dashboard))
        written.append(path)
    return written


def stale(out_dir: Path = JSON_DIR) -> list[str]:
    """Names of committed JSON files that differ from what the code generates."""
    return [
        file_name(d)
        for d in all_dashboards()
        if not (out_dir / file_name(d)).is_file()
        or (out_dir / file_name(d)).read_text() != render(d)
    ]


def load(out_dir: Path = JSON_DIR) -> dict[str, dict[str, Any]]:
    """The committed dashboards by file name; a file that is not valid JSON raises
    `DashboardError` naming it."""
    loaded: dict[str, dict[str, Any]] = {}
    for path in sorted(out_dir.glob("*.json")):
        try:
            loaded[path.name] = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise DashboardError(f"{path.name}: not valid JSON ({exc})") from exc
    return loaded
