"""The demo's HTML report, written for a care manager: figures, findings, three charts.

- a figures table in words and units (the same rows as the terminal table);
- every finding with its plain reason and what happened to each offer it led to (or why
  none was sent);
- fleet health over time: open findings per fault kind, and the fleet's median battery
  health;
- lead time: days between the offer reaching the owner and the day they would have called;
- one device's telemetry around its fault, with onset, finding, offer and call marked;
  the time axis spans every marker (the call may come after the run ends), each marker
  is an SVG group with the id `marker-<what>` and is listed with its time under the chart.
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import psycopg

from demo.results import readable, rows
from detectors.lab.evaluate import DAY_MS
from devicecare.contracts.vocabulary import Answer, FaultKind, OfferStatus

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
        top.stackplot(stamps, stacks, labels=[readable(k) for k in kinds], alpha=0.85)
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


@dataclass(frozen=True)
class Mark:
    gid: str
    text: str
    ms: float
    color: str
    style: str | tuple[int, tuple[int, ...]]


def title_of(fault: dict) -> str:
    return f"{fault['device_id']}: {readable(fault['kind'])}"


def _marked_chart(series: list[tuple], label: str, marks: list[Mark], end_ms: float) -> str:
    """The device's metric from a week before the first marker to a day after the last.

    Markers close together (the offer often reaches the owner within the hour of the
    finding) get distinct colours, dash patterns and a labelled triangle (SVG id
    `tip-<what>`) at a height of their own, so none hides another; a call after the run
    sits past the shaded end.
    """
    first = min(m.ms for m in marks)
    last = max([m.ms for m in marks] + [end_ms])
    fig, ax = plt.subplots(figsize=(9, 3.8))
    ax.plot([r[0] for r in series], [r[1] for r in series], linewidth=0.6, color="tab:gray")
    ax.set_xlim(_when(first - 7 * DAY_MS), _when(last + DAY_MS))
    if last > end_ms:
        ax.axvspan(_when(end_ms), _when(last + DAY_MS), color="0.92", label="after the run")
    for height, mark in enumerate(marks):
        line = ax.axvline(
            _when(mark.ms),
            color=mark.color,
            linestyle=mark.style,
            linewidth=1.4,
            label=f"{mark.text} ({_when(mark.ms):%b %d %H:%M})",
        )
        line.set_gid(f"marker-{mark.gid}")
        (tip,) = ax.plot(
            [_when(mark.ms)],
            [0.95 - 0.1 * height],
            marker="v",
            color=mark.color,
            transform=ax.get_xaxis_transform(),
            clip_on=False,
        )
        tip.set_gid(f"tip-{mark.gid}")
        ax.annotate(
            mark.text,
            (mdates.date2num(_when(mark.ms)), 0.95 - 0.1 * height),
            xycoords=ax.get_xaxis_transform(),
            xytext=(5, 0),
            textcoords="offset points",
            fontsize=7,
            va="center",
            color=mark.color,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
        )
    ax.set_ylabel(label)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %d"))
    return _svg(fig)


def device_chart(conn: psycopg.Connection, truth: dict) -> tuple[str, str, list[Mark]]:
    """The first fault with an offer and a chartable metric; (title, svg, its markers)."""
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
        series = conn.execute(
            f"SELECT ts, {expression} FROM samples WHERE device_id = %s ORDER BY ts",  # noqa: S608
            (fault["device_id"],),
        ).fetchall()
        detected = conn.execute(
            "SELECT min(extract(epoch FROM detected_at))::float8 * 1000 FROM findings"
            " WHERE device_id = %s AND fault_kind = %s",
            key,
        ).fetchone()[0]  # type: ignore[index]
        marks = [
            Mark("onset", "fault begins", fault["onset_ms"], "tab:orange", (0, (4, 2))),
            Mark("finding", "finding", detected, "tab:red", "-"),
            Mark("offer", "offer reaches owner", offers[key], "tab:green", (0, (1, 1))),
            Mark("call", "owner would call", fault["visible_ms"], "black", (0, (6, 2, 1, 2))),
        ]
        marks = [m for m in marks if m.ms is not None]
        return title_of(fault), _marked_chart(series, label, marks, truth["end_ms"]), marks
    return "no example", "", []


OFFER_OUTCOME = {
    OfferStatus.CREATED: "not sent yet",
    OfferStatus.SENT: "sent, no answer",
    OfferStatus.DELIVERED: "delivered, no answer",
    OfferStatus.VIEWED: "seen, no answer",
    OfferStatus.ACCEPTED: "accepted",
    OfferStatus.DECLINED: "declined",
    OfferStatus.EXPIRED: "expired without an answer",
    OfferStatus.RESOLVED: "closed: the fault is resolved",
}
ANSWER_OUTCOME = {
    Answer.ACCEPT: "the owner accepted",
    Answer.DISMISS: "the owner dismissed it",
    Answer.WRONG: "the owner said it was wrong",
}


def _offer_outcome(kind: str, status: str, answer: str | None, held: str | None) -> str:
    said = ANSWER_OUTCOME[Answer(answer)] if answer else OFFER_OUTCOME[OfferStatus(status)]
    if held and status == OfferStatus.CREATED:
        said += f" (held: {readable(held)})"
    return f"{readable(kind)} offer: {said}"


def findings_rows(conn: psycopg.Connection) -> list[tuple[str, ...]]:
    """Every finding: when, device, fault, severity, its plain reason, and what happened to
    each of its offers, or why it got none (the notifier's suppression reasons)."""
    offers: dict[int, list[str]] = {}
    for finding_id, kind, status, answer, held in conn.execute(
        "SELECT finding_id, kind, status, answer, held_reason FROM offers"
        " WHERE finding_id IS NOT NULL ORDER BY created_at"
    ):
        offers.setdefault(finding_id, []).append(_offer_outcome(kind, status, answer, held))
    held_back = dict(
        conn.execute(
            "SELECT finding_id, string_agg(DISTINCT reason, ', ') FROM offer_suppressions"
            " WHERE finding_id IS NOT NULL GROUP BY 1"
        ).fetchall()
    )
    out = []
    for finding_id, detected, device, kind, severity, reason in conn.execute(
        "SELECT finding_id, detected_at, device_id, fault_kind, severity, reason"
        " FROM findings ORDER BY detected_at, finding_id"
    ):
        fate = offers.get(finding_id) or [
            "no offer"
            + (f" (held: {readable(held_back[finding_id])})" if finding_id in held_back else "")
        ]
        out.append(
            (
                f"{detected:%Y-%m-%d %H:%M}",
                device,
                readable(kind),
                severity,
                reason,
                "; ".join(fate),
            )
        )
    return out


FINDING_COLUMNS = ("found", "device", "fault", "severity", "why", "what happened to the offer")


def _table(table_id: str, head: tuple[str, ...] | None, body: list[tuple[str, ...]]) -> str:
    cells = "".join(
        "<tr><th>"
        + html.escape(r[0])
        + "</th>"
        + "".join(f"<td>{html.escape(c)}</td>" for c in r[1:])
        + "</tr>"
        if head is None
        else "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
        for r in body
    )
    thead = (
        ""
        if head is None
        else "<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr></thead>"
    )
    return f'<table id="{table_id}">{thead}<tbody>{cells}</tbody></table>'


def write(
    path: Path, url: str, truth: dict, figures: dict[str, object], leads: list[float]
) -> Path:
    """Write the report to `path` (folders created) and return it."""
    with psycopg.connect(url) as conn:
        charts = [fleet_chart(conn, truth), lead_chart(leads)]
        title, example, marks = device_chart(conn, truth)
        found = findings_rows(conn)
    legend = "".join(
        f'<li data-marker="{m.gid}">{html.escape(m.text)}: {_when(m.ms):%Y-%m-%d %H:%M} UTC</li>'
        for m in marks
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>DeviceCare demo</title>
<style>body{{font-family:sans-serif;max-width:72rem;margin:2rem auto}}
th{{text-align:left;padding-right:1rem;vertical-align:top}}
td{{vertical-align:top;padding:0.15rem 0.6rem 0.15rem 0}}
#findings td:nth-child(-n+2){{white-space:nowrap}}
#findings td:nth-child(5){{max-width:30rem}}</style></head>
<body><h1>DeviceCare demo</h1>
<p>{figures["devices"]} simulated devices over {figures["days"]} days, through MQTT,
ingest, TimescaleDB, the detectors and the notifier.</p>
<h2>Figures</h2>{_table("figures", None, rows(figures))}
{"".join(f"<figure>{c}</figure>" for c in charts)}
<h2>An example: {html.escape(title)}</h2><figure>{example}</figure>
<ul id="markers">{legend}</ul>
<h2>Findings ({len(found)})</h2>
{_table("findings", FINDING_COLUMNS, found)}
</body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path
