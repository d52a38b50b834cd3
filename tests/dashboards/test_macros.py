"""Macro expansion gives the SQL Grafana's PostgreSQL data source sends (macros.go,
sqleng.Interpolate and the browser's variable interpolation)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dashboards.errors import DashboardError
from dashboards.macros import (
    TimeRange,
    VariableValue,
    expand,
    expand_macros,
    format_interval,
    go_rfc3339_nano,
    interpolate_variables,
    round_interval_ms,
)

START = datetime(2026, 11, 2, 10, 0, 0, tzinfo=UTC)
END = datetime(2026, 12, 2, 10, 0, 0, 123000, tzinfo=UTC)
RANGE = TimeRange(START, END)


def test_time_filter_from_to() -> None:
    sql = "WHERE $__timeFilter(ts) AND a > $__timeFrom() AND b < $__timeTo()"
    assert expand_macros(sql, RANGE) == (
        "WHERE ts BETWEEN '2026-11-02T10:00:00Z' AND '2026-12-02T10:00:00.123Z'"
        " AND a > '2026-11-02T10:00:00Z' AND b < '2026-12-02T10:00:00.123Z'"
    )


def test_time_group_uses_time_bucket_with_timescaledb() -> None:
    assert expand_macros("SELECT $__timeGroupAlias(ts, '5m')", RANGE) == (
        "SELECT time_bucket('300.000s',ts) AS \"time\""
    )
    assert expand_macros("GROUP BY $__timeGroup(ts, 1h)", RANGE) == (
        "GROUP BY time_bucket('3600.000s',ts)"
    )
    assert expand_macros("$__timeGroup(ts,1d)", RANGE) == "time_bucket('86400.000s',ts)"


def test_time_group_followed_by_comma_gets_the_alias() -> None:
    # Grafana keeps the pre-5.3 behaviour: `$__timeGroup(...),` means the aliased form.
    assert expand_macros("SELECT $__timeGroup(ts, '1m'), v", RANGE) == (
        "SELECT time_bucket('60.000s',ts) AS \"time\", v"
    )


def test_without_timescaledb_floor_epoch() -> None:
    assert expand_macros("$__timeGroup(ts, 90s)", RANGE, timescaledb=False) == (
        "floor(extract(epoch from ts)/90)*90"
    )


def test_time_and_epoch_macros() -> None:
    assert expand_macros("$__time(ts), $__timeEpoch(ts)", RANGE) == (
        'ts AS "time", extract(epoch from ts) as "time"'
    )
    assert expand_macros("$__unixEpochFilter(t)", RANGE) == (
        f"t >= {int(START.timestamp())} AND t <= {int(END.timestamp())}"
    )


def test_unknown_macro_and_missing_arguments_fail() -> None:
    with pytest.raises(DashboardError, match='unknown macro "__nope"'):
        expand_macros("$__nope(x)", RANGE)
    with pytest.raises(DashboardError, match="needs time column and interval"):
        expand_macros("$__timeGroup(ts)", RANGE)
    with pytest.raises(DashboardError, match="error parsing interval"):
        expand_macros("$__timeGroup(ts, soon)", RANGE)


def test_go_time_format() -> None:
    assert go_rfc3339_nano(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05Z"
    assert go_rfc3339_nano(datetime(2026, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)) == (
        "2026-01-02T03:04:05.5Z"
    )


def test_interval_rounding_and_format() -> None:
    # 30 days over 1,000 points is 2,592 s: Grafana rounds it to 30 min.
    assert round_interval_ms(2_592_000) == 1_800_000
    assert round_interval_ms(604_800) == 600_000
    assert format_interval(600_000) == "10m"
    assert format_interval(86_400_000) == "1d"
    assert format_interval(1_500) == "1s"


def test_interval_variables() -> None:
    sql = "SELECT $__timeGroupAlias(ts, $__interval), sum(x) * 1000.0 / $__interval_ms"
    assert expand(sql, RANGE, {}) == (
        "SELECT time_bucket('1800.000s',ts) AS \"time\", sum(x) * 1000.0 / 1800000"
    )


def test_template_variables_like_the_postgres_data_source() -> None:
    variables = {
        "model": VariableValue(("Pixel 8", "O'Neil"), multi=True, include_all=True),
        "device": VariableValue(("dev-1",), multi=False, include_all=False),
    }
    sql = "model IN ($model) AND id = '${device}' AND x = '[[device]]'"
    assert interpolate_variables(sql, variables, 60_000) == (
        "model IN ('Pixel 8','O''Neil') AND id = 'dev-1' AND x = 'dev-1'"
    )


def test_unknown_variable_is_named() -> None:
    with pytest.raises(DashboardError, match=r"unknown variable \$nosuch"):
        interpolate_variables("WHERE a = $nosuch", {}, 1000)
