"""High-resolution sampling on suspicion: the policy (threshold, rest, budget, consent) and
the backtest's per-device sampling (pure, no services)."""

from __future__ import annotations

import math

import numpy as np

from detectors.lab.backtest import Sampling, periods
from detectors.live.device import DeviceState
from detectors.live.findings import Finding, Tracker
from detectors.live.rules import REGISTRY
from detectors.live.suspicion import (
    HOUR,
    Ledger,
    Policy,
    Suspicion,
    Verdict,
    budget,
    collectors_of,
    decide,
    evidence_text,
    signals_text,
    suspicions,
)
from devicecare.contracts import CollectorName
from devicecare.contracts.vocabulary import FaultKind, FindingStatus, Severity
from simulator.fleet import Fleet
from simulator.run import Plan

POLICY = Policy(level=0.5, hours=48, rest_hours=72, budget_pct=10)


def _open(device_id: str, kind: FaultKind) -> Tracker:
    tracker = Tracker()
    tracker.open = Finding(
        device_id, kind.value, FindingStatus.OPEN, Severity.INFO, 0.8, None, 0, 0, "r", "", {}
    )
    return tracker


def test_a_suspicion_is_a_sampled_kind_at_the_threshold_without_an_open_finding() -> None:
    state = DeviceState("d1")
    state.rules = {"capacity_fade": REGISTRY["capacity_fade"]()}
    state.judged = {
        FaultKind.BATTERY_FADE.value: 0.7,
        FaultKind.STORAGE_RUNAWAY.value: 0.49,
        FaultKind.CRASH_LOOP.value: 0.9,
        FaultKind.COOLING_FAILURE.value: 1.4,
        FaultKind.FLASH_EOL.value: 1.2,
    }
    state.trackers = {FaultKind.COOLING_FAILURE.value: _open("d1", FaultKind.COOLING_FAILURE)}
    found = suspicions(state, POLICY)
    assert [s.kind for s in found] == [FaultKind.FLASH_EOL.value, FaultKind.BATTERY_FADE.value], (
        "strongest first; under the threshold, an open finding or crash events do not count;"
        " at 1 but not yet sustained does"
    )
    assert found[1].rules == ("capacity_fade",)
    assert collectors_of(found) == [CollectorName.BATTERY, CollectorName.STORAGE]
    assert signals_text([CollectorName.BATTERY]) == "battery signals"
    assert signals_text(collectors_of(found)) == "battery and storage signals"
    assert evidence_text(found[1:]) == (
        f"evidence building (capacity_fade at level 0.70 for {FaultKind.BATTERY_FADE.value})"
    )
    assert suspicions(state, Policy(level=0.8)) == [found[0]]


def test_a_level_the_verdicts_or_precedence_hold_down_raises_nothing() -> None:
    state = DeviceState("d1")
    state.levels = {FaultKind.BATTERY_FADE.value: 0.9}
    state.judged = {FaultKind.BATTERY_FADE.value: 0.45}
    assert suspicions(state, POLICY) == [], "the level as it counts towards a finding decides"


def test_thermal_suspicions_raise_the_thermal_and_battery_signals() -> None:
    charger = Suspicion(FaultKind.FAULTY_CHARGER.value, 0.6, ("thermal_paths",))
    assert collectors_of([charger]) == [CollectorName.BATTERY, CollectorName.THERMAL]


def test_the_policy_refuses_an_active_resting_unconsented_or_over_budget_device() -> None:
    now = 1000 * HOUR
    free = {"active": False, "last_ended": None, "consent": True, "raised": 0, "fleet": 100}
    assert decide(POLICY, now, **free) is Verdict.RAISE
    assert decide(POLICY, now, **free | {"active": True}) is Verdict.ACTIVE
    assert decide(POLICY, now, **free | {"consent": False}) is Verdict.NO_CONSENT
    resting = free | {"last_ended": now - 71 * HOUR}
    assert decide(POLICY, now, **resting) is Verdict.RESTING
    rested = free | {"last_ended": now - 72 * HOUR}
    assert decide(POLICY, now, **rested) is Verdict.RAISE
    assert decide(POLICY, now, **free | {"raised": 9}) is Verdict.RAISE
    assert decide(POLICY, now, **free | {"raised": 10}) is Verdict.OVER_BUDGET
    assert budget(POLICY, 100) == 10
    assert budget(POLICY, 9) == 0, "under one device's worth, nobody"
    assert budget(Policy(budget_pct=5), 400) == 20


def test_the_ledger_raises_for_a_bounded_time_rests_and_keeps_to_the_budget() -> None:
    ledger = Ledger(POLICY, fleet=20)
    building = [Suspicion(FaultKind.BATTERY_FADE.value, 0.7, ("capacity_fade",))]
    assert ledger.consider("a", 0.0, []) is None, "no suspicion, no raise"
    first = ledger.consider("a", 0.0, building)
    assert first is not None and first.until == 48 * HOUR
    assert first.collectors == (CollectorName.BATTERY,)
    assert ledger.consider("b", 0.0, building) is not None
    assert ledger.consider("c", 0.0, building) is None, "10% of 20 devices: two at once"
    assert ledger.consider("a", 10 * HOUR, building) is None, "already raised"
    assert ledger.expire(47 * HOUR) == []
    assert [r.device_id for r in ledger.expire(48 * HOUR)] == ["a", "b"]
    assert ledger.consider("a", 50 * HOUR, building) is None, "resting: no flapping"
    assert ledger.consider("c", 50 * HOUR, building) is not None, "the budget is free again"
    assert ledger.consider("a", 120 * HOUR, building) is not None, "rested"
    assert ledger.consider("d", 120 * HOUR, building, consent=False) is None
    assert ledger.refused == {
        Verdict.OVER_BUDGET: 1,
        Verdict.ACTIVE: 1,
        Verdict.RESTING: 1,
        Verdict.NO_CONSENT: 1,
    }


def test_a_raised_device_samples_its_signals_at_the_fine_step_and_the_rest_on_its_grid() -> None:
    plan = Plan(2, 1, seed=3, interval_s=900, upload_hours=6)
    normal = list(periods(plan, Fleet(2, seed=3, start_ms=1_790_000_000_000, days=1)))
    sampling = Sampling(300, {1: (CollectorName.BATTERY,)})
    fine = list(periods(plan, Fleet(2, seed=3, start_ms=1_790_000_000_000, days=1), sampling))
    assert len(fine) == len(normal) == 4
    calm, raised = fine[0][0][1], fine[0][1][1]
    assert len(calm) == len(normal[0][0][1]) == 24, "six hours every 15 minutes"
    assert np.all(np.diff(calm.ts) == 900)
    assert len(raised) == 72 and np.all(np.diff(raised.ts) == 300)
    assert np.isfinite(raised.col("battery_pct")).all()
    on_grid = (raised.ts - raised.ts[0]) % 900 == 0
    storage = raised.col("storage_free_bytes")
    assert np.isfinite(storage[on_grid]).all() and np.isnan(storage[~on_grid]).all()
    assert math.isclose(float(raised.ts[0]), float(calm.ts[0]))
