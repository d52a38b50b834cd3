"""The demo's figures, from the database against the simulator's ground truth."""

from __future__ import annotations

import statistics
from collections import Counter

import psycopg
from psycopg.rows import dict_row

from demo.pipeline import DemoRun
from detectors.lab.evaluate import DAY_MS, NON_FAULT_AFTER_MS, Found, evaluate
from notifier.rules import load_rules
from notifier.stats import counts


def figures(run: DemoRun) -> tuple[dict[str, object], list[float]]:
    """The figures, and the lead time (days) of every fault whose owner got an offer."""
    truth = run.truth
    service = {name for name, kind in load_rules().offers.items() if kind.service}
    with psycopg.connect(run.url) as conn:
        samples = conn.execute("SELECT count(*) FROM samples").fetchone()[0]  # type: ignore[index]
        found = [
            Found(*row)
            for row in conn.execute(
                "SELECT device_id, fault_kind, (extract(epoch FROM detected_at) * 1000)::bigint"
                " FROM findings"
            )
        ]
        with conn.cursor(row_factory=dict_row) as cur:
            offers = cur.execute(
                "SELECT offer_id::text, device_id, fault_kind, kind, status, answer, channel,"
                " (extract(epoch FROM coalesce(delivered_at, sent_at)) * 1000)::bigint"
                " AS reached_ms FROM offers"
            ).fetchall()
        notifier = counts(conn)
    evaluation = evaluate(truth, found).as_json()
    reached: dict[tuple[str, str], int] = {}
    for offer in offers:
        if offer["reached_ms"] is not None:
            key = (offer["device_id"], offer["fault_kind"])
            reached[key] = min(reached.get(key, offer["reached_ms"]), offer["reached_ms"])
    leads, late, unreached = [], [], []
    for fault in truth["faults"]:
        key = (fault["device_id"], fault["kind"])
        if key in reached:
            lead = (fault["visible_ms"] - reached[key]) / DAY_MS
            leads.append(lead)
            if lead <= 0:
                late.append({"device_id": key[0], "kind": key[1], "lead_days": round(lead, 2)})
        else:
            unreached.append({"device_id": key[0], "kind": key[1]})
    answers = Counter(o["answer"] for o in offers if o["answer"])
    nonfaults = _non_faults(truth, offers, service)
    return {
        "devices": len(truth["devices"]),
        "days": round((truth["end_ms"] - truth["start_ms"]) / DAY_MS, 2),
        "samples": samples,
        "samples_published": run.samples_published,
        "faults": len(truth["faults"]),
        "faults_by_kind": dict(Counter(f["kind"] for f in truth["faults"])),
        "faults_found": evaluation["faults_found"],
        "recall": evaluation["recall_overall"],
        "recall_by_kind": evaluation["recall"],
        "false_findings": evaluation["false_findings"],
        "false_per_1000_device_days": evaluation["false_per_1000_device_days"],
        "detection_median_lead_days": evaluation["median_lead_days"],
        "faults_offered": len(leads),
        "faults_offered_before_call": sum(1 for lead in leads if lead > 0),
        "median_lead_days": round(statistics.median(leads), 2) if leads else None,
        "worst_lead_days": round(min(leads), 2) if leads else None,
        "late_offers": late,
        "faults_without_offer": unreached,
        "offers_created": notifier.offers_created,
        "offers_sent": notifier.offers_sent,
        "offers_by_kind": notifier.offers_by_kind,
        "offers_by_status": notifier.offers_by_status,
        "offers_accepted": answers.get("accept", 0),
        "offers_dismissed": answers.get("dismiss", 0),
        "offers_wrong": answers.get("wrong", 0),
        "offers_received_on_devices": run.received_offers,
        "suppressed": notifier.suppressed_findings,
        "fleet_alerts": notifier.fleet_alerts,
        "reminders": notifier.reminders,
        "non_faults": nonfaults,
        "timings_s": {k: round(v, 1) for k, v in run.timings.items()},
    }, leads


def _non_faults(truth: dict, offers: list[dict], service: set[str]) -> dict[str, dict[str, int]]:
    """Per non-fault kind: device-periods, and how many got no offer, only a tip, or a
    service offer (repair, replacement, store visit, call-back) while on or just after."""
    region = {d["device_id"]: d["region"] for d in truth["devices"]}
    faulty = {f["device_id"] for f in truth["faults"]}
    by_device: dict[str, list[dict]] = {}
    for offer in offers:
        if offer["reached_ms"] is not None:
            by_device.setdefault(offer["device_id"], []).append(offer)
    out: dict[str, dict[str, int]] = {}
    for window in truth["non_faults"]:
        devices = (
            [window["device_id"]]
            if window["device_id"] is not None
            else [d for d, r in region.items() if r == window["region"]]
        )
        tally = out.setdefault(
            window["kind"], {"device_periods": 0, "nothing": 0, "tip_only": 0, "repair_offer": 0}
        )
        for device in devices:
            if device in faulty:
                continue
            tally["device_periods"] += 1
            inside = [
                o
                for o in by_device.get(device, [])
                if window["start_ms"] <= o["reached_ms"] <= window["end_ms"] + NON_FAULT_AFTER_MS
            ]
            if not inside:
                tally["nothing"] += 1
            elif any(o["kind"] in service for o in inside):
                tally["repair_offer"] += 1
            else:
                tally["tip_only"] += 1
    return out


def readable(name: str) -> str:
    """A vocabulary value as words: `battery_swelling` -> `battery swelling`."""
    return name.replace("_", " ")


def _pct(value: object) -> str:
    return "-" if value is None else f"{float(value):.0%}"  # type: ignore[arg-type]


def _days(value: object) -> str:
    return "-" if value is None else f"{float(value):g} days"  # type: ignore[arg-type]


def _tally(counts: dict[str, object]) -> str:
    return ", ".join(f"{readable(k)} {v}" for k, v in sorted(counts.items())) or "none"


def rows(f: dict) -> list[tuple[str, str]]:
    """The figures as (what, figure) in words and units, for the terminal table and the
    HTML report alike: a care manager reads these, not the JSON keys."""
    recall = ", ".join(f"{readable(k)} {_pct(v)}" for k, v in sorted(f["recall_by_kind"].items()))
    out = [
        ("devices, days", f"{f['devices']:,} devices over {f['days']:g} days"),
        ("samples stored", f"{f['samples']:,} of {f['samples_published']:,} published"),
        ("faults injected", f"{f['faults']}: {_tally(f['faults_by_kind'])}"),
        ("faults found", f"{f['faults_found']} (recall {_pct(f['recall'])}): {recall or '-'}"),
        (
            "false findings",
            f"{f['false_findings']} ({f['false_per_1000_device_days']} per 1,000 device-days)",
        ),
        (
            "offers reaching the owner",
            f"{f['faults_offered']} faults, {f['faults_offered_before_call']} of them before "
            "the owner would have called",
        ),
        (
            "lead time (offer before call)",
            f"median {_days(f['median_lead_days'])}, worst {_days(f['worst_lead_days'])}",
        ),
        (
            "offers",
            f"{f['offers_sent']} sent of {f['offers_created']} created; "
            f"{f['offers_accepted']} accepted, {f['offers_dismissed']} dismissed, "
            f"{f['offers_wrong']} 'wrong'",
        ),
        ("offers by kind", _tally(f["offers_by_kind"])),
        ("offers by status", _tally(f["offers_by_status"])),
        ("held back (findings)", _tally(f["suppressed"])),
        (
            "fleet alerts, reminders",
            f"{f['fleet_alerts']} fleet alerts, {f['reminders']} reminders",
        ),
    ]
    for kind, tally in sorted(f["non_faults"].items()):
        out.append(
            (
                f"non-fault: {readable(kind)}",
                f"{tally['device_periods']} device-periods: {tally['nothing']} nothing, "
                f"{tally['tip_only']} a self-help tip, {tally['repair_offer']} a repair offer",
            )
        )
    timings = ", ".join(
        f"{readable(k.removesuffix('_s'))} {v:g} s" for k, v in f["timings_s"].items()
    )
    out.append(("wall time", timings))
    return out
