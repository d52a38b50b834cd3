"""`devicecare eval triage`: triage every complaint of a simulated fleet and score it.

The fleet's telemetry goes into a scratch database (created on the configured server, or
on a temporary local stack when none runs), every owner's complaint is triaged as of
the moment they call, and each verdict is scored against the truth: hardware faults
should get a repair verdict (`confirmed_fault` or `likely_fault_test_first`), usage and
software complaints a no-fault verdict. `score` is pure and unit-tested.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql

from care import store
from care.service import CohortCache, run_triage
from care.triage import Complaint, Verdict
from devicecare.config import Settings, load_settings
from devicecare.db.migrate import migrate
from devicecare.endpoints import database_url
from devicecare.errors import StackError
from devstack import local
from simulator.complaints import Cause, OwnerComplaint, complaints
from simulator.fleet import Fleet
from triagelab.simload import load_fleet

EXPECTED: dict[Cause, frozenset[Verdict]] = {
    Cause.HARDWARE: frozenset({Verdict.CONFIRMED_FAULT, Verdict.LIKELY_FAULT_TEST_FIRST}),
    Cause.USAGE: frozenset({Verdict.NO_FAULT_USAGE}),
    Cause.SOFTWARE: frozenset({Verdict.NO_FAULT_SOFTWARE}),
}
"""The verdicts that are right for each true cause."""


@dataclass(frozen=True, slots=True)
class Judged:
    complaint: OwnerComplaint
    verdict: Verdict


def score(judged: Iterable[Judged]) -> dict[str, object]:
    """Headline shares and, per verdict, precision and recall against the truth.

    A verdict's precision is the share of its complaints whose true cause it names (a
    repair verdict: a hardware fault); its recall, the share of complaints of that cause
    that got it (for the two repair verdicts together, see `faults_with_fault_verdict`).
    """
    judged = list(judged)
    faults = [j for j in judged if j.complaint.cause is Cause.HARDWARE]
    no_fault = [j for j in judged if j.complaint.cause is not Cause.HARDWARE]
    per_cause = Counter(j.complaint.cause for j in judged)
    table = {}
    for verdict in Verdict:
        given = [j for j in judged if j.verdict is verdict]
        causes = [c for c, ok in EXPECTED.items() if verdict in ok]
        right = [j for j in given if j.complaint.cause in causes]
        relevant = sum(per_cause[c] for c in causes)
        table[verdict.value] = {
            "given": len(given),
            "right": len(right),
            "precision": round(len(right) / len(given), 3) if given else None,
            "recall": round(len(right) / relevant, 3) if relevant else None,
        }
    by_source: dict[str, Counter[str]] = {}
    for j in judged:
        by_source.setdefault(j.complaint.source, Counter())[j.verdict.value] += 1
    fault_hits = sum(j.verdict.sends_to_repair for j in faults)
    nff_hits = sum(j.verdict.no_fault for j in no_fault)
    repairs = [j for j in judged if j.verdict.sends_to_repair]
    return {
        "complaints": len(judged),
        "faults": len(faults),
        "faults_with_fault_verdict": round(fault_hits / len(faults), 3) if faults else None,
        "no_fault_complaints": len(no_fault),
        "no_fault_with_no_fault_verdict": round(nff_hits / len(no_fault), 3) if no_fault else None,
        "repair_nff_rate": round(
            sum(j.complaint.cause is not Cause.HARDWARE for j in repairs) / len(repairs), 3
        )
        if repairs
        else None,
        "verdicts": table,
        "by_source": {k: dict(v) for k, v in sorted(by_source.items())},
    }


@contextmanager
def scratch_database(settings: Settings) -> Iterator[str]:
    """A fresh migrated database on the configured server, dropped afterwards; with no
    server configured or running, on a temporary local stack stopped afterwards."""
    try:
        base = database_url(settings)
    except StackError:
        root = Path(tempfile.mkdtemp(prefix="devicecare-eval-"))
        root.chmod(0o755)
        temporary = load_settings(state_dir=root)
        try:
            local.up(temporary)
            # The stack's URL, filled in once: never a second temporary stack.
            with _scratch_on(database_url(local.fill(temporary))) as url:
                yield url
        finally:
            local.down(temporary)
            shutil.rmtree(root, ignore_errors=True)
        return
    with _scratch_on(base) as url:
        yield url


@contextmanager
def _scratch_on(base: str) -> Iterator[str]:
    name = f"devicecare_eval_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = base.rsplit("/", 1)[0] + "/" + name
    try:
        migrate(url)
        yield url
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@dataclass(frozen=True, slots=True)
class Plan:
    devices: int = 300
    days: float = 60.0
    seed: int = 7
    interval_s: int = 1800


def run(url: str, plan: Plan) -> tuple[dict[str, object], list[Judged]]:
    """Simulate, load, triage every complaint; the scores and each verdict."""
    started = time.perf_counter()
    end_ms = int(datetime(2025, 6, 1, tzinfo=UTC).timestamp() * 1000)
    start_ms = end_ms - int(plan.days * 86_400_000)
    fleet = Fleet(plan.devices, seed=plan.seed, start_ms=start_ms, days=plan.days)
    calls = complaints(fleet, end_ms=end_ms, seed=plan.seed)
    with psycopg.connect(url, autocommit=True) as conn:
        samples = load_fleet(conn, fleet, days=plan.days, interval_s=plan.interval_s)
        loaded = time.perf_counter()
        cache = CohortCache()
        judged = []
        for call in calls:
            device = store.device(conn, call.device_id)
            assert device is not None
            at = datetime.fromtimestamp(call.at_ms / 1000, UTC)
            decision, _ = run_triage(conn, cache, device, Complaint(call.complaint), at=at)
            judged.append(Judged(call, decision.verdict))
    figures = score(judged)
    figures["fleet"] = {
        "devices": plan.devices,
        "days": plan.days,
        "seed": plan.seed,
        "samples": samples,
        "load_s": round(loaded - started, 1),
        "triage_s": round(time.perf_counter() - loaded, 1),
    }
    return figures, judged
