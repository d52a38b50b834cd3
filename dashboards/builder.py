"""A small typed builder for Grafana dashboard JSON: only what DeviceCare's dashboards use.

Every panel reads the one provisioned PostgreSQL data source (`DATASOURCE`) with raw SQL;
a panel's `kind` says which columns its query must return (see `dashboards.checks`).
The JSON follows Grafana's dashboard schema (version 39, Grafana 11); fields left out
take Grafana's defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

DATASOURCE_UID = "devicecare-timescaledb"
DATASOURCE: dict[str, str] = {"type": "grafana-postgresql-datasource", "uid": DATASOURCE_UID}
GRID_COLUMNS = 24
SCHEMA_VERSION = 39


class PanelKind(StrEnum):
    """Grafana panel types in use, each with what its query returns."""

    TIMESERIES = "timeseries"  # a sorted `time` column, then numeric series
    BARCHART = "barchart"  # one label column, then numeric columns
    STAT = "stat"  # one row of numbers
    TABLE = "table"  # any columns
    HISTOGRAM = "histogram"  # numeric values, one row per observation


class Format(StrEnum):
    TIME_SERIES = "time_series"
    TABLE = "table"


@dataclass(frozen=True)
class Query:
    """One SQL target; `ref` is Grafana's refId."""

    sql: str
    ref: str = "A"
    format: Format = Format.TABLE

    def to_json(self) -> dict[str, Any]:
        return {
            "datasource": DATASOURCE,
            "editorMode": "code",
            "format": self.format.value,
            "rawQuery": True,
            "rawSql": self.sql.strip(),
            "refId": self.ref,
        }


@dataclass(frozen=True)
class Panel:
    """A panel of `width` x `height` grid units; the dashboard lays panels out in rows."""

    title: str
    kind: PanelKind
    queries: tuple[Query, ...]
    description: str = ""
    width: int = 12
    height: int = 8
    unit: str | None = None
    stacked: bool = False
    options: dict[str, Any] = field(default_factory=dict)

    def to_json(self, panel_id: int, x: int, y: int) -> dict[str, Any]:
        defaults: dict[str, Any] = {}
        if self.unit:
            defaults["unit"] = self.unit
        if self.stacked:
            defaults["custom"] = {"stacking": {"mode": "normal", "group": "A"}}
        return {
            "datasource": DATASOURCE,
            "description": self.description,
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
            "id": panel_id,
            "options": self.options,
            "targets": [q.to_json() for q in self.queries],
            "title": self.title,
            "type": self.kind.value,
        }


def timeseries(title: str, sql: str, **kw: Any) -> Panel:
    return Panel(title, PanelKind.TIMESERIES, (Query(sql, format=Format.TIME_SERIES),), **kw)


def stat(title: str, sql: str, **kw: Any) -> Panel:
    return Panel(title, PanelKind.STAT, (Query(sql),), **kw)


def table(title: str, sql: str, **kw: Any) -> Panel:
    return Panel(title, PanelKind.TABLE, (Query(sql),), **kw)


def barchart(title: str, sql: str, **kw: Any) -> Panel:
    return Panel(title, PanelKind.BARCHART, (Query(sql),), **kw)


def histogram(title: str, sql: str, **kw: Any) -> Panel:
    return Panel(title, PanelKind.HISTOGRAM, (Query(sql),), **kw)


@dataclass(frozen=True)
class Variable:
    """A query variable: `sql` returns one column of values (sorted by the query)."""

    name: str
    label: str
    sql: str
    multi: bool = True
    include_all: bool = True

    def to_json(self) -> dict[str, Any]:
        current: dict[str, Any] = (
            {"selected": True, "text": ["All"], "value": ["$__all"]} if self.include_all else {}
        )
        return {
            "current": current,
            "datasource": DATASOURCE,
            "definition": self.sql.strip(),
            "includeAll": self.include_all,
            "label": self.label,
            "multi": self.multi,
            "name": self.name,
            "options": [],
            "query": self.sql.strip(),
            "refresh": 2,
            "sort": 1,
            "type": "query",
        }


@dataclass(frozen=True)
class Annotation:
    """Events drawn on every time series: the query returns `time`, `timeend`, `text`, `tags`."""

    name: str
    sql: str
    color: str

    def to_json(self) -> dict[str, Any]:
        return {
            "datasource": DATASOURCE,
            "enable": True,
            "iconColor": self.color,
            "name": self.name,
            "rawQuery": self.sql.strip(),
            "target": {"format": "table", "rawQuery": True, "rawSql": self.sql.strip()},
        }


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    variables: tuple[Variable, ...] = ()
    annotations: tuple[Annotation, ...] = ()
    time_from: str = "now-30d"
    refresh: str = "5m"
    tags: tuple[str, ...] = ("devicecare",)

    def layout(self) -> list[tuple[Panel, int, int]]:
        """Panels placed left to right, wrapping to a new row at 24 columns."""
        placed: list[tuple[Panel, int, int]] = []
        x = y = row_height = 0
        for panel in self.panels:
            if x + panel.width > GRID_COLUMNS:
                x, y, row_height = 0, y + row_height, 0
            placed.append((panel, x, y))
            x += panel.width
            row_height = max(row_height, panel.height)
        return placed

    def to_json(self) -> dict[str, Any]:
        builtin = {
            "builtIn": 1,
            "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True,
            "hide": True,
            "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts",
            "type": "dashboard",
        }
        return {
            "annotations": {"list": [builtin, *(a.to_json() for a in self.annotations)]},
            "description": self.description,
            "editable": True,
            "graphTooltip": 1,
            "panels": [
                panel.to_json(i, x, y) for i, (panel, x, y) in enumerate(self.layout(), start=1)
            ],
            "refresh": self.refresh,
            "schemaVersion": SCHEMA_VERSION,
            "tags": list(self.tags),
            "templating": {"list": [v.to_json() for v in self.variables]},
            "time": {"from": self.time_from, "to": "now"},
            "timezone": "utc",
            "title": self.title,
            "uid": self.uid,
            "version": 1,
        }
