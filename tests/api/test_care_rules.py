"""The pure care logic: cohort percentiles, triage verdicts, scoring, complaints, cursors."""

from __future__ import annotations

from dataclasses import replace

import pytest

from care.figures import Cohort, Figures
from care.store import BadCursorError, decode_cursor, encode_cursor
from care.triage import Complaint, TriageInput, Verdict, decide
from devicecare.contracts.vocabulary import FaultKind
from simulator.complaints import Cause, OwnerComplaint, complaints
from simulator.faults import DAY_MS
from simulator.fleet import Fleet
from triagelab.evaluate import Judged, score

BASE = Figures(
    samples=96,
    battery_health_pct=92.0,
    battery_temp_c=28.0,
    battery_temp_charging_c=33.0,
    cpu_temp_c=40.0,
    cpu_load_pct=30.0,
    throttled_share=0.0,
    storage_free_pct=40.0,
    storage_trend_gb_per_day=-0.2,
    flash_wear_pct=20.0,
    drain_pct_per_h=6.0,
)
PEERS = Cohort.of(replace(BASE, battery_health_pct=85.0 + i) for i in range(10))


def _verdict(complaint: Complaint, recent: Figures, **extra: object) -> Verdict:
    return decide(TriageInput(complaint, recent, BASE, PEERS, **extra)).verdict  # type: ignore[arg-type]


def test_cohort_percentile_and_median() -> None:
    cohort = Cohort.of(Figures(samples=1, cpu_temp_c=float(t)) for t in range(1, 11))
    assert cohort.percentile("cpu_temp_c", 0.5) == 0.0
    assert cohort.percentile("cpu_temp_c", 5.0) == 45.0
    assert cohort.percentile("cpu_temp_c", 11.0) == 100.0
    assert cohort.median("cpu_temp_c") == 5.5
    small = Cohort.of(Figures(samples=1, cpu_temp_c=1.0) for _ in range(4))
    assert small.percentile("cpu_temp_c", 1.0) is None and small.median("cpu_temp_c") is None
    assert Cohort.of([Figures()]).devices == 0


@pytest.mark.parametrize(
    ("complaint", "recent", "verdict"),
    [
        (Complaint.BATTERY, replace(BASE, samples=3), Verdict.INSUFFICIENT_DATA),
        (Complaint.BATTERY, replace(BASE, battery_health_pct=86.0), Verdict.CONFIRMED_FAULT),
        (
            Complaint.BATTERY,
            replace(BASE, battery_health_pct=89.0),
            Verdict.LIKELY_FAULT_TEST_FIRST,
        ),
        (Complaint.BATTERY, replace(BASE, sudden_drops=3), Verdict.CONFIRMED_FAULT),
        (
            Complaint.BATTERY,
            replace(BASE, drain_pct_per_h=9.0, cpu_load_pct=45.0, cpu_temp_c=46.0),
            Verdict.NO_FAULT_USAGE,
        ),
        (
            Complaint.HEAT,
            replace(BASE, cpu_temp_c=51.0, battery_temp_c=39.0),
            Verdict.NO_FAULT_USAGE,
        ),
        (
            Complaint.HEAT,
            replace(BASE, cpu_temp_c=55.0, throttled_share=0.2),
            Verdict.CONFIRMED_FAULT,
        ),
        (Complaint.HEAT, replace(BASE, battery_temp_c=36.0), Verdict.CONFIRMED_FAULT),
        (
            Complaint.HEAT,
            replace(BASE, battery_temp_charging_c=42.0),
            Verdict.LIKELY_FAULT_TEST_FIRST,
        ),
        (Complaint.STORAGE, replace(BASE, flash_wear_pct=90.0), Verdict.CONFIRMED_FAULT),
        (Complaint.STORAGE, replace(BASE, storage_free_pct=0.5), Verdict.NO_FAULT_SOFTWARE),
        (Complaint.STORAGE, replace(BASE, storage_free_pct=5.0), Verdict.NO_FAULT_USAGE),
        (Complaint.CRASHES, replace(BASE, kernel_panics=3), Verdict.CONFIRMED_FAULT),
        (
            Complaint.CRASHES,
            replace(
                BASE,
                crashes=12,
                top_signature="SIGSEGV x",
                top_signature_crashes=10,
                top_app_version="4.0",
            ),
            Verdict.NO_FAULT_SOFTWARE,
        ),
        (Complaint.CRASHES, replace(BASE, crashes=1), Verdict.NO_FAULT_SOFTWARE),
        (Complaint.OTHER, BASE, Verdict.INSUFFICIENT_DATA),
    ],
)
def test_verdicts(complaint: Complaint, recent: Figures, verdict: Verdict) -> None:
    assert _verdict(complaint, recent) is verdict


def test_a_crash_signature_shared_by_the_cohort_is_escalated() -> None:
    recent = replace(BASE, crashes=12, top_signature="SIGSEGV x", top_signature_crashes=10)
    assert _verdict(Complaint.CRASHES, recent, signature_devices=4) is Verdict.COHORT_ISSUE


def test_an_open_hardware_finding_confirms_the_fault_and_is_evidence() -> None:
    reason = "Battery capacity fell from 96% to 81% in three weeks."
    decision = decide(
        TriageInput(
            Complaint.BATTERY, BASE, BASE, PEERS, open_findings=[(FaultKind.BATTERY_FADE, reason)]
        )
    )
    assert decision.verdict is Verdict.CONFIRMED_FAULT
    assert any(reason in e.text for e in decision.evidence)


def test_evidence_names_baseline_and_cohort() -> None:
    decision = decide(
        TriageInput(Complaint.BATTERY, replace(BASE, battery_health_pct=86.0), BASE, PEERS)
    )
    text = decision.evidence[0].text
    assert text.startswith("battery health 86.0%, own baseline 92.0%, cohort median 89.5%")
    assert decision.evidence[0].cohort_percentile == 15.0


def _judged(cause: Cause, verdict: Verdict) -> Judged:
    return Judged(OwnerComplaint("d", 0, "battery", cause, "x"), verdict)


def test_score_shares_and_per_verdict_table() -> None:
    figures = score(
        [
            _judged(Cause.HARDWARE, Verdict.CONFIRMED_FAULT),
            _judged(Cause.HARDWARE, Verdict.NO_FAULT_USAGE),
            _judged(Cause.USAGE, Verdict.NO_FAULT_USAGE),
            _judged(Cause.USAGE, Verdict.LIKELY_FAULT_TEST_FIRST),
            _judged(Cause.SOFTWARE, Verdict.NO_FAULT_SOFTWARE),
        ]
    )
    assert figures["faults"] == 2 and figures["faults_with_fault_verdict"] == 0.5
    assert figures["no_fault_complaints"] == 3
    assert figures["no_fault_with_no_fault_verdict"] == pytest.approx(0.667)
    usage = figures["verdicts"]["no_fault_usage"]  # type: ignore[index]
    assert usage == {"given": 2, "right": 1, "precision": 0.5, "recall": 0.5}
    assert figures["repair_nff_rate"] == 0.5


def test_complaints_follow_the_fleet_schedule() -> None:
    fleet = Fleet(200, seed=3, start_ms=0, days=60)
    calls = complaints(fleet, end_ms=60 * DAY_MS, seed=3)
    assert calls == complaints(fleet, end_ms=60 * DAY_MS, seed=3)
    assert [c.at_ms for c in calls] == sorted(c.at_ms for c in calls)
    assert {c.cause for c in calls} == set(Cause)
    for call in calls:
        assert 9 * DAY_MS <= call.at_ms < 60 * DAY_MS
        fault = fleet.fault_of.get(fleet.ids.index(call.device_id))
        if call.cause is Cause.USAGE:
            assert fault is None or fault.onset_ms > call.at_ms


def test_cursors_round_trip_and_reject_garbage() -> None:
    assert decode_cursor(encode_cursor("a", 3), 2) == ["a", 3]
    for bad in ("garbage", encode_cursor("a"), "!!!"):
        with pytest.raises(BadCursorError):
            decode_cursor(bad, 2)
