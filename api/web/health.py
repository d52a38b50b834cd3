"""The device's health in plain language: each figure with what is normal, and a chart.

The numbers come from `care.service.health_summary` (the device view of the API); this
module only says which figures the owner sees, on what scale, and what counts as normal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from markupsafe import Markup

from api.web import charts
from api.web.i18n import Translator
from care import store
from care.figures import Figures


@dataclass(frozen=True, slots=True)
class Gauge:
    figure: str
    low: float
    high: float
    normal: tuple[float, float]
    unit: str


GAUGES = (
    Gauge("battery_health_pct", 50, 100, (80, 100), "%"),
    Gauge("battery_temp_c", 15, 55, (15, 40), "°C"),
    Gauge("storage_free_pct", 0, 100, (10, 100), "%"),
    Gauge("crashes", 0, 20, (0, 3), ""),
)
"""What the owner's page shows; `normal` is the band in which nothing needs doing."""

COMPARED = "battery_health_pct"
LOW_PERCENTILE = 10.0
"""Battery health below this percentile of the cohort is pointed out even in the normal band:
the battery is wearing faster than those of the same model."""


@dataclass(frozen=True, slots=True)
class Row:
    figure: str
    value: float | None
    unit: str
    normal: bool | None
    chart: Markup
    text: str


def rows(health: dict, t: Translator) -> list[Row]:
    """One plain-language row per gauge, from a `health_summary` result."""
    out = []
    figures = health.get("figures", {})
    for g in GAUGES:
        entry = figures.get(g.figure, {})
        value = entry.get("value")
        median = entry.get("cohort_median")
        ok = None if value is None else g.normal[0] <= value <= g.normal[1]
        label = t(f"fig.{g.figure}")
        if value is None:
            text = t("health.unknown")
        else:
            text = t("health.normal" if ok else "health.not_normal")
            if median is not None:
                text += " " + t("health.cohort", median=f"{median:.0f}{g.unit}")
            percentile = entry.get("cohort_percentile")
            if g.figure == COMPARED and percentile is not None and percentile < LOW_PERCENTILE:
                text += " " + t("health.below_cohort", share=f"{100 - percentile:.0f}")
        alt = f"{label}: " + ("-" if value is None else f"{value:.0f}{g.unit}")
        if median is not None:
            alt += ", " + t("health.cohort", median=f"{median:.0f}{g.unit}")
        chart = charts.gauge(
            value,
            low=g.low,
            high=g.high,
            label=alt,
            median=median,
            normal=g.normal,
            alarming=ok is False,
        )
        out.append(Row(g.figure, value, g.unit, ok, chart, text))
    return out


def daily(
    conn: psycopg.Connection, device_id: str, until: datetime | None, days: int
) -> dict[str, list[float | None]]:
    """Each gauge's figure per day over the last `days` days before `until` (the store's
    window query, one day at a time), for the console's charts over time."""
    out: dict[str, list[float | None]] = {g.figure: [] for g in GAUGES}
    if until is None:
        return out
    end = until + timedelta(microseconds=1)
    for back in range(days, 0, -1):
        since = end - timedelta(days=back)
        day = store.figures(conn, [device_id], since, since + timedelta(days=1)).get(
            device_id, Figures()
        )
        for g in GAUGES:
            value = getattr(day, g.figure)
            out[g.figure].append(None if day.samples == 0 or value is None else float(value))
    return out
