"""Grafana's expansion of a PostgreSQL panel query, step by step as Grafana does it.

1. The browser replaces template variables (`$name`, `${name}`, `${name:fmt}`,
   `[[name]]`) and `$__interval` / `$__interval_ms`; multi-value and include-all variables
   become quoted, comma-separated literals, single values have their quotes doubled
   (the PostgreSQL data source's `interpolateVariable`). The interval is the time range
   divided by the panel's data points, rounded as Grafana's `rangeutil.roundInterval`.
2. The server (`sqleng.Interpolate`) replaces `$__interval_ms`, `$__interval`,
   `$__unixEpochFrom()` and `$__unixEpochTo()`.
3. The PostgreSQL macro engine (`macros.go`) replaces every `$__macro(args)`; with the
   data source's `timescaledb` option on, `$__timeGroup` becomes `time_bucket`.

Timestamps are written in Go's RFC 3339 "Nano" layout (UTC, trailing zeros of the
fraction dropped) and intervals in Go's `%.3f` seconds, so the SQL that runs here is the
SQL Grafana would send.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dashboards.errors import DashboardError

_MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)")
_VARIABLE = re.compile(
    r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}"
)
_DATE_UNIT = re.compile(r"^(\d+)([dwMy])$")
_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_GO_UNITS_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_ROUND_STEPS_MS = (
    (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500),
    (1_500, 1_000), (3_500, 2_000), (7_500, 5_000), (12_500, 10_000), (17_500, 15_000),
    (25_000, 20_000), (45_000, 30_000), (90_000, 60_000), (210_000, 120_000),
    (450_000, 300_000), (750_000, 600_000), (1_050_000, 900_000), (1_500_000, 1_200_000),
    (2_700_000, 1_800_000), (5_400_000, 3_600_000), (9_000_000, 7_200_000),
    (16_200_000, 10_800_000), (32_400_000, 21_600_000), (86_400_000, 43_200_000),
    (604_800_000, 86_400_000), (1_814_400_000, 604_800_000), (3_628_800_000, 2_592_000_000),
)  # fmt: skip
_YEAR_MS = 31_536_000_000
DEFAULT_DATA_POINTS = 1000
"""A panel about 1,000 pixels wide: Grafana's maxDataPoints is the panel's width."""


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime

    @classmethod
    def last(cls, spec: str, now: datetime) -> TimeRange:
        """The range of a dashboard's `time.from` such as `now-30d` (to `now`)."""
        match = re.fullmatch(r"now-(\d+)([smhdw])", spec)
        if not match:
            raise DashboardError(f"unsupported time range {spec!r}")
        unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match[2]]
        return cls(now - timedelta(seconds=int(match[1]) * unit), now)


def round_interval_ms(interval_ms: float) -> int:
    """Grafana's `rangeutil.roundInterval`: snap to a human step."""
    for limit, step in _ROUND_STEPS_MS:
        if interval_ms < limit:
            return step
    return _YEAR_MS


def panel_interval_ms(time_range: TimeRange, data_points: int = DEFAULT_DATA_POINTS) -> int:
    span_ms = (time_range.end - time_range.start).total_seconds() * 1000
    return round_interval_ms(round(span_ms / data_points))


def format_interval(interval_ms: int) -> str:
    """gtime.FormatInterval: the largest whole unit (y, d, h, m, s, ms)."""
    for unit, ms in (("y", _YEAR_MS), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000),
                     ("s", 1_000), ("ms", 1)):  # fmt: skip
        if interval_ms >= ms:
            return f"{interval_ms // ms}{unit}"
    return "1ms"


def parse_interval_s(text: str, now: datetime) -> float:
    """gtime.ParseInterval: `Nd`, `Nw`, `NM`, `Ny` as calendar steps from now, else a Go
    duration (`1h30m`, `500ms`)."""
    match = _DATE_UNIT.match(text)
    if match:
        n, unit = int(match[1]), match[2]
        if unit in "dw":
            return timedelta(days=n * (7 if unit == "w" else 1)).total_seconds()
        months = n * (12 if unit == "y" else 1)
        year, month = divmod(now.month - 1 + months, 12)
        later = now.replace(year=now.year + year, month=month + 1)
        return (later - now).total_seconds()
    parts = _GO_DURATION.findall(text)
    if not parts or "".join(a + b for a, b in parts) != text.lstrip("+"):
        raise DashboardError(f"error parsing interval {text}")
    return sum(float(amount) * _GO_UNITS_S[unit] for amount, unit in parts)


def go_rfc3339_nano(moment: datetime) -> str:
    """Go's time.RFC3339Nano of a UTC time: fraction without trailing zeros, `Z`."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += "." + f"{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def _go_float(value: float) -> str:
    """Go's `%v` of a float64 (shortest form, no trailing `.0`)."""
    return repr(value).removesuffix(".0") if value == int(value) else repr(value)


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class VariableValue:
    """A template variable's current value as the browser holds it."""

    values: tuple[str, ...]
    multi: bool
    include_all: bool

    def render(self) -> str:
        if not (self.multi or self.include_all) and len(self.values) == 1:
            return self.values[0].replace("'", "''")
        return ",".join(_quote_literal(v) for v in self.values)


def interpolate_variables(
    sql: str, variables: Mapping[str, VariableValue], interval_ms: int
) -> str:
    """Step 1 (browser): template variables and the panel interval."""
    builtins = {"__interval": format_interval(interval_ms), "__interval_ms": str(interval_ms)}

    def replace(match: re.Match[str]) -> str:
        name = match[1] or match[2] or match[4]
        if name in builtins:
            return builtins[name]
        if name in variables:
            return variables[name].render()
        if name.startswith("__"):
            return match[0]  # a server-side macro such as $__timeFilter
        raise DashboardError(f"unknown variable ${name}")

    return _VARIABLE.sub(replace, sql)


def interpolate_server(sql: str, time_range: TimeRange, interval_ms: int) -> str:
    """Step 2 (sqleng.Interpolate)."""
    sql = sql.replace("$__interval_ms", str(interval_ms))
    sql = sql.replace("$__interval", format_interval(interval_ms))
    sql = sql.replace("$__unixEpochFrom()", str(int(time_range.start.timestamp())))
    return sql.replace("$__unixEpochTo()", str(int(time_range.end.timestamp())))


def expand_macros(sql: str, time_range: TimeRange, *, timescaledb: bool = True) -> str:
    """Step 3 (the PostgreSQL macro engine)."""
    start, end = go_rfc3339_nano(time_range.start), go_rfc3339_nano(time_range.end)

    def evaluate(name: str, args: Sequence[str]) -> str:  # noqa: PLR0911 - one case per macro
        column = args[0] if args and args[0] else None
        if name in ("__time", "__timeEpoch", "__timeFilter", "__unixEpochFilter") and not column:
            raise DashboardError(f"missing time column argument for macro {name}")
        if name == "__time":
            return f'{column} AS "time"'
        if name == "__timeEpoch":
            return f'extract(epoch from {column}) as "time"'
        if name == "__timeFilter":
            return f"{column} BETWEEN '{start}' AND '{end}'"
        if name == "__timeFrom":
            return f"'{start}'"
        if name == "__timeTo":
            return f"'{end}'"
        if name in ("__timeGroup", "__timeGroupAlias"):
            if len(args) < 2:  # noqa: PLR2004 - column and interval
                raise DashboardError(
                    f"macro {name} needs time column and interval and optional fill value"
                )
            seconds = parse_interval_s(args[1].strip("'"), time_range.end)
            group = (
                f"time_bucket('{seconds:.3f}s',{args[0]})"
                if timescaledb
                else f"floor(extract(epoch from {args[0]})/{_go_float(seconds)})"
                f"*{_go_float(seconds)}"
            )
            return group + (' AS "time"' if name == "__timeGroupAlias" else "")
        if name == "__unixEpochFilter":
            lo, hi = int(time_range.start.timestamp()), int(time_range.end.timestamp())
            return f"{column} >= {lo} AND {column} <= {hi}"
        raise DashboardError(f'unknown macro "{name}"')

    def replace(match: re.Match[str]) -> str:
        name = match[1]
        if name == "__timeGroup":
            at = sql.find(match[0])
            if at >= 0 and sql[at + len(match[0]) : at + len(match[0]) + 1] == ",":
                name = "__timeGroupAlias"  # Grafana < 5.3 compatibility, kept by Grafana
        return evaluate(name, [a.strip(" ") for a in match[2].split(",")])

    return _MACRO.sub(replace, sql)


def expand(
    sql: str,
    time_range: TimeRange,
    variables: Mapping[str, VariableValue],
    *,
    data_points: int = DEFAULT_DATA_POINTS,
) -> str:
    """The SQL Grafana sends to PostgreSQL for `sql` on a panel over `time_range`."""
    interval_ms = panel_interval_ms(time_range, data_points)
    browser = interpolate_variables(sql, variables, interval_ms)
    return expand_macros(interpolate_server(browser, time_range, interval_ms), time_range)
