"""Checks of dashboard JSON: its structure, and every query run on a real database.

`structure` needs no database. `run` expands each variable, panel and annotation query
exactly as Grafana would (`dashboards.macros`) over the dashboard's default time range,
runs it, and checks that it returns what its panel type needs: a `time` column sorted
ascending for time series, a label and numbers for bar charts, numbers for stats. The
command line (`devicecare dashboards check`), the tests and the bench use the same code.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg

from dashboards.builder import DATASOURCE_UID, GRID_COLUMNS, Format, PanelKind
from dashboards.errors import DashboardError
from dashboards.macros import TimeRange, VariableValue, expand

_NUMERIC_OIDS = frozenset({20, 21, 23, 700, 701, 1700})  # int8/2/4, float4/8, numeric
_TEXT_OIDS = frozenset({25, 1043, 19})  # text, varchar, name
_TIME_OIDS = frozenset({1184, 1114})  # timestamptz, timestamp


@dataclass(frozen=True)
class Problem:
    dashboard: str
    item: str
    message: str

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.item}: {self.message}"


@dataclass
class QueryRun:
    """One executed query: where it came from, how long it took, what it returned."""

    dashboard: str
    item: str
    sql: str
    ms: float = 0.0
    rows: int = 0
    needs_rows: bool = True
    """Annotations may well be empty over a range; panels and variables should not be."""
    problems: list[str] = field(default_factory=list)


def _title(dashboard: Mapping[str, Any]) -> str:
    return str(dashboard.get("title") or dashboard.get("uid") or "?")


def structure(dashboards: Mapping[str, Mapping[str, Any]]) -> list[Problem]:
    """Unique uids and panel ids, panels inside the grid, every query on our data source."""
    problems: list[Problem] = []
    seen_uids: dict[str, str] = {}
    for name, dash in dashboards.items():
        title = _title(dash)
        uid = dash.get("uid")
        if not uid:
            problems.append(Problem(title, name, "no uid"))
        elif uid in seen_uids:
            problems.append(Problem(title, name, f"uid {uid!r} also used by {seen_uids[uid]}"))
        else:
            seen_uids[uid] = name
        ids: set[int] = set()
        for panel in dash.get("panels", []):
            where = f"panel {panel.get('title')!r}"
            if panel.get("id") in ids:
                problems.append(Problem(title, where, f"duplicate panel id {panel.get('id')}"))
            ids.add(panel.get("id"))
            grid = panel.get("gridPos", {})
            x, w = grid.get("x", -1), grid.get("w", 0)
            if x < 0 or w <= 0 or x + w > GRID_COLUMNS or grid.get("h", 0) <= 0:
                problems.append(Problem(title, where, f"gridPos {grid} outside 24 columns"))
            sources = [panel.get("datasource"), *(t.get("datasource") for t in panel["targets"])]
            problems += [
                Problem(title, where, f"data source {s} is not {DATASOURCE_UID}")
                for s in sources
                if not s or s.get("uid") != DATASOURCE_UID
            ]
            if not panel.get("targets"):
                problems.append(Problem(title, where, "no query"))
        for item in [
            *dash.get("templating", {}).get("list", []),
            *(a for a in dash.get("annotations", {}).get("list", []) if not a.get("builtIn")),
        ]:
            source = item.get("datasource") or {}
            if source.get("uid") != DATASOURCE_UID:
                problems.append(
                    Problem(title, f"{item.get('name')!r}", f"data source {source} is not ours")
                )
    return problems


def _execute(conn: psycopg.Connection, sql: str) -> tuple[list[int], list[str], list[tuple]]:
    with conn.cursor() as cur:
        cur.execute(sql)  # type: ignore[arg-type]  # the dashboard's own SQL, as Grafana runs it
        description = cur.description or []
        return (
            [c.type_code for c in description],
            [c.name for c in description],
            cur.fetchall(),
        )


def _shape(  # noqa: PLR0911 - one verdict per rule
    kind: str, fmt: str, types: list[int], names: list[str], rows: list[tuple]
) -> list[str]:
    """What is wrong with a result for a panel of `kind` (empty when all is well)."""
    numeric = [i for i, t in enumerate(types) if t in _NUMERIC_OIDS]
    if fmt == Format.TIME_SERIES or kind == PanelKind.TIMESERIES:
        if "time" not in names:
            return ["no `time` column"]
        at = names.index("time")
        if types[at] not in _TIME_OIDS:
            return [f"`time` column has type oid {types[at]}, not a timestamp"]
        times = [r[at] for r in rows]
        if times != sorted(times):
            return ["`time` column not sorted ascending"]
        others = [i for i in range(len(names)) if i != at]
        if not any(i in numeric for i in others):
            return ["no numeric value column"]
        if any(types[i] not in _NUMERIC_OIDS | _TEXT_OIDS for i in others):
            return ["value columns must be numbers or one text `metric` column"]
        return []
    if kind == PanelKind.BARCHART:
        if not types or types[0] not in _TEXT_OIDS:
            return ["first column must be a text label"]
        return [] if len(numeric) >= 1 else ["no numeric column"]
    if kind in (PanelKind.STAT, PanelKind.HISTOGRAM) and not numeric:
        return ["no numeric column"]
    return []


def resolve_variables(
    conn: psycopg.Connection,
    dashboard: Mapping[str, Any],
    time_range: TimeRange,
    overrides: Mapping[str, str] | None = None,
) -> tuple[dict[str, VariableValue], list[QueryRun]]:
    """Each variable's options from its query (in order, so one may use an earlier one),
    and its value as Grafana starts: All when offered, else the first option, unless
    `overrides` names one."""
    values: dict[str, VariableValue] = {}
    runs: list[QueryRun] = []
    for var in dashboard.get("templating", {}).get("list", []):
        name = var["name"]
        run = QueryRun(_title(dashboard), f"variable ${name}", var.get("query", ""))
        runs.append(run)
        try:
            run.sql = expand(var["query"], time_range, values)
            started = time.perf_counter()
            _, _, rows = _execute(conn, run.sql)
            run.ms = (time.perf_counter() - started) * 1000
        except (DashboardError, psycopg.Error) as exc:
            run.problems.append(str(exc).strip())
            options: list[str] = []
        else:
            options = [str(r[0]) for r in rows if r and r[0] is not None]
            run.rows = len(options)
        if not options:
            run.problems.append("no values")
        multi, include_all = bool(var.get("multi")), bool(var.get("includeAll"))
        if overrides and name in overrides:
            chosen = (overrides[name],)
        elif include_all:
            chosen = tuple(options)
        else:
            chosen = tuple(options[:1])
        values[name] = VariableValue(chosen, multi, include_all)
    return values, runs


def run(
    conn: psycopg.Connection,
    dashboards: Mapping[str, Mapping[str, Any]],
    *,
    now: datetime | None = None,
    overrides: Mapping[str, str] | None = None,
) -> list[QueryRun]:
    """Run every variable, panel and annotation query of `dashboards` over each one's
    default time range ending `now`; problems are recorded on each run, never raised."""
    now = now or datetime.now(UTC)
    runs: list[QueryRun] = []
    for dash in dashboards.values():
        title = _title(dash)
        time_range = TimeRange.last(dash.get("time", {}).get("from", "now-6h"), now)
        values, variable_runs = resolve_variables(conn, dash, time_range, overrides)
        runs += variable_runs
        for panel in dash.get("panels", []):
            for target in panel.get("targets", []):
                item = f"panel {panel.get('title')!r}"
                runs.append(
                    _run_one(
                        conn,
                        title=title,
                        item=item,
                        raw=target.get("rawSql", ""),
                        time_range=time_range,
                        values=values,
                        kind=str(panel.get("type")),
                        fmt=str(target.get("format", "")),
                    )
                )
        for note in dash.get("annotations", {}).get("list", []):
            if note.get("builtIn"):
                continue
            item = f"annotation {note.get('name')!r}"
            result = _run_one(
                conn,
                title=title,
                item=item,
                raw=note.get("rawQuery", ""),
                time_range=time_range,
                values=values,
                kind=PanelKind.TABLE,
                fmt=Format.TABLE,
            )
            if not result.problems:
                result.problems += _annotation_columns(conn, result.sql)
            result.needs_rows = False
            runs.append(result)
    return runs


def _run_one(
    conn: psycopg.Connection,
    *,
    title: str,
    item: str,
    raw: str,
    time_range: TimeRange,
    values: Mapping[str, VariableValue],
    kind: str,
    fmt: str,
) -> QueryRun:
    result = QueryRun(title, item, raw)
    try:
        result.sql = expand(raw, time_range, values)
        started = time.perf_counter()
        types, names, rows = _execute(conn, result.sql)
        result.ms = (time.perf_counter() - started) * 1000
    except (DashboardError, psycopg.Error) as exc:
        result.problems.append(str(exc).strip().splitlines()[0])
        return result
    result.rows = len(rows)
    result.problems += _shape(kind, fmt, types, names, rows)
    return result


def _annotation_columns(conn: psycopg.Connection, sql: str) -> list[str]:
    _, names, _ = _execute(conn, f"SELECT * FROM ({sql}) AS a LIMIT 0")  # noqa: S608 - dashboard SQL
    missing = [c for c in ("time", "text") if c not in names]
    return [f"annotation lacks columns {missing}"] if missing else []


def problems(runs: Iterable[QueryRun], *, need_rows: bool = True) -> list[Problem]:
    """The runs' problems, plus an empty result where rows were expected."""
    found = []
    for r in runs:
        messages = list(r.problems)
        if need_rows and r.needs_rows and not messages and r.rows == 0:
            messages.append("returned no rows")
        found += [Problem(r.dashboard, r.item, m) for m in messages]
    return found
