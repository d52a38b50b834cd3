"""The demo's HTML report: its figures and three charts (matplotlib, inline SVG).

- fleet health over time: open findings per fault kind, and the fleet's median battery
  health;
- lead time: days between the offer reaching the owner and the day they would have called;
- one device's telemetry around its fault, with onset, finding, offer and call marked.
"""

from __future__ import annotations

import html
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import psycopg

from detectors.lab.evaluate import DAY_MS
from devicecare.contracts.vocabulary import FaultKind

METRIC_OF_KIND = {
    FaultKind.BATTERY_SWELLING: ("battery_temp_c", "battery temperature, °C"),
    FaultKind.FAULTY_CHARGER: ("battery_temp_c", "battery temperature, °C"),
    FaultKind.COOLING_FAILURE: ("cpu_temp_c", "CPU temperature, °C"),
    FaultKind.BATTERY_FADE: ("battery_health_pct", "battery health, % of design"),
    FaultKind.BATTERY_BAD_CELL: ("battery_pct", "charge, %"),
    FaultKind.STORAGE_RUNAWAY: ("storage_free_gb", "free storage, GB"),
    FaultKind.FLASH_EOL: ("flash_wear_pct", "flash wear, %"),
}


def _svg(fig: plt.Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _when(ms: float) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def fleet_chart(conn: psycopg.Connection, truth: dict) -> str:
    days = np.arange(truth["start_ms"], truth["end_ms"] + 1, DAY_MS)
    rows = conn.execute(
        "SELECT fault_kind, extract(epoch FROM detected_at)::float8 * 1000,"
        " extract(epoch FROM coalesce(resolved_at, 'infinity'::timestamptz))::float8 * 1000"
        " FROM findings"
    ).fetchall()
    kinds = sorted({r[0] for r in rows})
    stacks = [
        [sum(1 for k, a, b in rows if k == kind and a <= d < b) for d in days] for kind in kinds
    ]
    health = conn.execute(
        "SELECT time_bucket(INTERVAL '1 day', bucket) AS day,"
        " percentile_cont(0.5) WITHIN GROUP (ORDER BY battery_health_pct_avg)"
        " FROM samples_hourly WHERE battery_health_pct_avg IS NOT NULL GROUP BY day ORDER BY day"
    ).fetchall()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    stamps = [_when(d) for d in days]
    if kinds:
        top.stackplot(stamps, stacks, labels=kinds, alpha=0.85)
        top.legend(loc="upper left", fontsize=7, ncol=3)
    top.set_ylabel("open findings")
    top.set_title("Fleet health over time")
    if health:
        bottom.plot([h[0] for h in health], [h[1] for h in health], color="tab:green")
    bottom.set_ylabel("median battery health, %")
    bottom.xaxis.set_major_formatter(mdates.DateFormatter("%b %d"))
    return _svg(fig)


def lead_chart(leads: list[float]) -> str:
    fig, ax = plt.subplots(figsize=(9, 3))
    if leads:
        ax.hist(leads, bins=max(5, min(30, len(leads) // 2)), color="tab:blue", alpha=0.8)
        ax.axvline(0, color="black", linewidth=1)
        ax.axvline(float(np.median(leads)), color="tab:red", linestyle="--", label="median")
        ax.legend()
    ax.set_xlabel("days the offer reached the owner before they would have called support")
    ax.set_ylabel("faults")
    ax.set_title("Lead time")
    return _svg(fig)


def device_chart(conn: psycopg.Connection, truth: dict) -> tuple[str, str]:
    """The first fault with an offer and a chartable metric; (title, svg)."""
    offers = {
        (r[0], r[1]): r[2]
        for r in conn.execute(
            "SELECT device_id, fault_kind,"
            " min(extract(epoch FROM coalesce(delivered_at, sent_at)))::float8 * 1000"
            " FROM offers WHERE sent_at IS NOT NULL GROUP BY 1, 2"
        )
    }
    for fault in sorted(
        truth["faults"],
        key=lambda f: list(METRIC_OF_KIND).index(f["kind"]) if f["kind"] in METRIC_OF_KIND else 99,
    ):
        key = (fault["device_id"], fault["kind"])
        if key not in offers or fault["kind"] not in METRIC_OF_KIND:
            continue
        metric, label = METRIC_OF_KIND[fault["kind"]]
        expression = {
            "battery_health_pct": "100 * battery_full_wh / nullif(battery_design_wh, 0)",
            "storage_free_gb": "storage_free_bytes / 1e9",
        }.get(metric, metric)
        rows = conn.execute(
            f"SELECT ts, {expression} FROM samples WHERE device_id = %s ORDER BY ts",  # noqa: S608
            (fault["device_id"],),
        ).fetchall()
        detected = conn.execute(
            "SELECT min(extract(epoch FROM detected_at))::float8 * 1000 FROM findings"
            " WHERE device_id = %s AND fault_kind = %s",
            key,
        ).fetchone()[0]  # type: ignore[index]
        fig, ax = plt.subplots(figsize=(9, 3.5))
        ax.plot([r[0] for r in rows], [r[1] for r in rows], linewidth=0.6, color="tab:gray")
        marks = [
            (fault["onset_ms"], "fault begins", "tab:orange"),
            (detected, "finding", "tab:red"),
            (offers[key], "offer reaches owner", "tab:green"),
            (fault["visible_ms"], "owner would call", "black"),
        ]
        for ms, text, color in marks:
            if ms is not None and ms <= truth["end_ms"]:
                ax.axvline(_when(ms), color=color, linestyle="--", label=text)
        ax.set_ylabel(label)
        ax.legend(fontsize=7, loc="best")
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %d"))
        title = f"{fault['device_id']}: {fault['kind'].replace('_', ' ')}"
        ax.set_title(title)
        return title, _svg(fig)
    return "no example", ""


def write(
    path: Path, url: str, truth: dict, figures: dict[str, object], leads: list[float]
) -> Path:
    with psycopg.connect(url) as conn:
        charts = [fleet_chart(conn, truth), lead_chart(leads)]
        title, example = device_chart(conn, truth)
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td><code>{html.escape(json.dumps(v))}</code></td></tr>"
        for k, v in figures.items()
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>DeviceCare demo</title>
<style>body{{font-family:sans-serif;max-width:60rem;margin:2rem auto}}
th{{text-align:left;padding-right:1rem;vertical-align:top}}
code{{white-space:pre-wrap}}</style></head>
<body><h1>DeviceCare demo</h1>
<p>{figures["devices"]} simulated devices over {figures["days"]} days, through MQTT,
ingest, TimescaleDB, the detectors and the notifier.</p>
{"".join(f"<figure>{c}</figure>" for c in charts)}
<h2>An example: {html.escape(title)}</h2><figure>{example}</figure>
<h2>Figures</h2><table>{rows}</table></body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path
