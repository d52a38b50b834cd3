"""Care logic over the store: a device's health summary against its cohort, and triage.

Windows are anchored at the device's latest sample (not the wall clock), so a device
that went silent is judged on its last days of data. Cohort figures are the heavy part
(every peer's samples over a week): they are computed once per cohort and hour, stored
in `cohort_figures` for every API worker, and kept in memory by `CohortCache`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timedelta

import psycopg

from care import store
from care.figures import NUMERIC, Cohort, Figures
from care.triage import Complaint, Decision, TriageInput, decide
from devicecare.contracts.vocabulary import FaultKind

VIEW_DAYS = 7
RECENT_DAYS = 2
BASELINE_DAYS = 7
HISTORY_DAYS = 60
CRASH_FREE_DAYS = (7, 30)

CohortKey = tuple[str | None, str | None, datetime, float]


class CohortCache:
    """Cohort figures per (model, OS version, window end to the hour, window length).

    Thread-safe; at most `max_entries` cohorts are kept (the oldest go first).
    """

    def __init__(self, max_entries: int = 256) -> None:
        self._lock = threading.Lock()
        self._entries: dict[CohortKey, Cohort] = {}
        self.max_entries = max_entries

    def get(self, key: CohortKey, build: Callable[[], Cohort]) -> Cohort:
        with self._lock:
            cached = self._entries.get(key)
        if cached is not None:
            return cached
        cohort = build()
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = cohort
        return cohort


def cohort_for(
    conn: psycopg.Connection,
    cache: CohortCache,
    *,
    model: str | None,
    os_version: str | None,
    until: datetime,
    days: float,
) -> Cohort:
    hour = until.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)

    def build() -> Cohort:
        key = (model or "", os_version or "", hour, days)
        stored = store.cohort_figures(conn, key)
        if stored is not None:
            return Cohort(stored[0], stored[1])
        members = store.cohort_members(conn, model, os_version)
        cohort = Cohort.of(store.figures(conn, members, hour - timedelta(days=days), hour).values())
        store.save_cohort_figures(conn, key, cohort.devices, dict(cohort.values))
        return cohort

    return cache.get((model, os_version, hour, days), build)


def health_summary(conn: psycopg.Connection, cache: CohortCache, device: dict) -> dict:
    """The device view's numbers: each figure of the last week with its cohort percentile."""
    until = device["data_at"]
    if until is None:
        return {"data_at": None, "window_days": VIEW_DAYS, "figures": {}, "cohort_devices": 0}
    end = until + timedelta(microseconds=1)
    since = end - timedelta(days=VIEW_DAYS)
    mine = store.figures(conn, [device["device_id"]], since, end).get(
        device["device_id"], Figures()
    )
    cohort = cohort_for(
        conn,
        cache,
        model=device["model"],
        os_version=device["os_version"],
        until=until,
        days=VIEW_DAYS,
    )
    first = store.first_sample(conn, device["device_id"], end - timedelta(days=30), end)
    out: dict[str, dict] = {}
    for name in NUMERIC:
        value = getattr(mine, name)
        out[name] = {
            "value": value,
            "cohort_median": cohort.median(name),
            "cohort_percentile": cohort.percentile(name, value),
        }
    for days in CRASH_FREE_DAYS:
        window = end - timedelta(days=days)
        if days == VIEW_DAYS:
            crash_hours = mine.crash_hours
        else:
            crash_hours = store.crash_hours(conn, device["device_id"], window, end)
        covered = (end - max(window, first or end)).total_seconds() / 3600
        out[f"crash_free_hours_{days}d"] = {"value": round(max(0.0, covered - crash_hours), 1)}
    return {
        "data_at": until,
        "window_days": VIEW_DAYS,
        "samples": mine.samples,
        "cohort_devices": cohort.devices,
        "figures": out,
    }


def run_triage(
    conn: psycopg.Connection,
    cache: CohortCache,
    device: dict,
    complaint: Complaint,
    at: datetime | None = None,
) -> tuple[Decision, dict[str, Figures]]:
    """Decide a complaint about a device as of `at` (default: its latest sample)."""
    device_id = device["device_id"]
    until = at or device["data_at"]
    if until is None:
        return decide(TriageInput(complaint, Figures(), Figures(), Cohort(0, {}))), {}
    end = until + timedelta(microseconds=1)
    recent_since = end - timedelta(days=RECENT_DAYS)
    crash_since = end - timedelta(days=VIEW_DAYS)
    first = store.first_sample(conn, device_id, end - timedelta(days=HISTORY_DAYS), recent_since)
    recent = store.figures(conn, [device_id], recent_since, end, crashes=False).get(
        device_id, Figures()
    )
    crashes = store.figures(conn, [device_id], crash_since, end, samples=False).get(
        device_id, Figures()
    )
    recent = Figures(
        **{
            **asdict(recent),
            **{
                k: getattr(crashes, k)
                for k in ("crashes", "kernel_panics", "crash_hours", "top_signature")
            },
            "top_signature_crashes": crashes.top_signature_crashes,
            "top_app_version": crashes.top_app_version,
        }
    )
    baseline = Figures()
    if first is not None:
        base_end = min(first + timedelta(days=BASELINE_DAYS), recent_since)
        baseline = store.figures(conn, [device_id], first, base_end, crashes=False).get(
            device_id, Figures()
        )
    cohort = cohort_for(
        conn,
        cache,
        model=device["model"],
        os_version=device["os_version"],
        until=until,
        days=RECENT_DAYS,
    )
    peers = 0
    if recent.top_signature:
        peers = store.signature_devices(
            conn,
            recent.top_signature,
            since=crash_since,
            until=end,
            model=device["model"],
            os_version=device["os_version"],
        )
    findings = [
        (FaultKind(kind), reason)
        for kind, reason in store.open_findings(conn, device_id, end)
        if kind in FaultKind.__members__.values()
    ]
    data = TriageInput(complaint, recent, baseline, cohort, findings, peers)
    return decide(data), {"recent": recent, "baseline": baseline}
