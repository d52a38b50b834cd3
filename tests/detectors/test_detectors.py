"""Detectors without services: rules, trackers, state hygiene, and a simulated fleet."""

from __future__ import annotations

import inspect
import math
import pickle
import zlib

import numpy as np
import pytest

from detectors.base import Guarded
from detectors.block import Block
from detectors.lab.backtest import run
from detectors.live import store
from detectors.live.anomaly import ScaledDeviation
from detectors.live.device import STATE_VERSION, DeviceState
from detectors.live.findings import Assessment, Context, Explanation, Tracker
from detectors.live.rules import REGISTRY, battery
from devicecare.contracts import Severity
from devicecare.contracts.vocabulary import FaultKind

DAY = 86_400.0


@pytest.fixture(scope="module")
def faulty_fleet():
    return run(90, 30, seed=5, faults="all=7")


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_rule_is_a_river_detector(name: str) -> None:
    """Conformance, as river runs over every estimator: clone, pickle, one-sample API
    with missing features, scores in [0, 1]."""
    rule = REGISTRY[name]()
    assert type(rule.clone()) is type(rule)
    rng = np.random.default_rng(0)
    for i in range(200):
        x = {"ts": 1.79e9 + 900 * i, "cpu_temp_c": 40 + rng.normal(), "battery_pct": 80 - i / 10}
        score = rule.score_one(x)
        assert 0.0 <= score <= 1.0
        rule.learn_one(x)
    again = pickle.loads(pickle.dumps(rule))
    x = {"ts": 1.79e9 + 900 * 200, "cpu_temp_c": 41.0, "cpu_load_pct": 30.0}
    assert again.score_one(x) == rule.score_one(x)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_a_restored_rule_shares_its_default_parameters_and_keeps_the_others(name: str) -> None:
    cls = REGISTRY[name]
    params = inspect.signature(cls.__init__).parameters
    changed = next(
        (n for n, p in params.items() if p.kind is p.KEYWORD_ONLY and type(p.default) is float),
        None,
    )
    rule = cls(**({changed: params[changed].default * 2} if changed else {}))
    again = pickle.loads(pickle.dumps(rule))
    assert again.__dict__.keys() == rule.__dict__.keys()
    for n, p in params.items():
        if p.kind is p.KEYWORD_ONLY and n != changed and type(p.default) in (int, float):
            assert getattr(again, n) is p.default, f"{n} is the shared default object"
    if changed:
        assert getattr(again, changed) == params[changed].default * 2


@pytest.mark.integration  # a simulated fleet's backtest
def test_each_fault_kind_is_found_before_its_owner_would_call(faulty_fleet) -> None:
    evaluation = faulty_fleet.evaluation
    end = faulty_fleet.truth["end_ms"]
    visible = {
        (f["device_id"], f["kind"]) for f in faulty_fleet.truth["faults"] if f["visible_ms"] < end
    }
    kinds = {kind for _, kind in visible}
    assert len(kinds) >= 8, "the fleet has faults of (nearly) every kind"
    missed = {(m["device_id"], m["kind"]) for m in evaluation.missed}
    assert not missed & visible, f"faults visible within the run were missed: {missed & visible}"
    assert evaluation.false_findings == 0
    assert min(evaluation.leads_days) > 0, "every fault was found before its owner would call"


@pytest.mark.integration  # a simulated fleet's backtest
def test_findings_explain_themselves(faulty_fleet) -> None:
    opened = [c.finding for c in faulty_fleet.changes if c.what == "opened"]
    assert opened
    for finding in opened:
        assert finding.reason and finding.reason[0].isupper() and finding.reason.endswith(".")
        assert 0.5 <= finding.confidence <= 1.0
        assert finding.onset_at is None or finding.onset_at <= finding.detected_at
        assert finding.evidence["detectors"]
    swelling = [f for f in opened if f.kind == FaultKind.BATTERY_SWELLING]
    assert swelling and all(f.severity is Severity.CRITICAL for f in swelling)
    fade = [f for f in opened if f.kind == FaultKind.BATTERY_FADE]
    assert fade and all("% of its original charge" in f.reason for f in fade)


@pytest.mark.integration  # a simulated fleet's backtest
def test_heat_waves_and_heavy_use_are_not_faults() -> None:
    quiet = run(100, 30, seed=6, faults="all=0,heavy_usage=30,hot_week=25")
    assert quiet.truth["non_faults"], "the run has heat waves and heavy-usage weeks"
    opened = [c.finding for c in quiet.changes if c.what == "opened"]
    assert not opened, [(f.device_id, f.kind, f.reason) for f in opened]


@pytest.mark.integration  # a simulated fleet's backtest
def test_state_stays_small_and_survives_a_restart(faulty_fleet) -> None:
    sizes = [len(pickle.dumps(state)) for state in faulty_fleet.states]
    assert max(sizes) < 20_000
    state = faulty_fleet.states[0]
    restored = pickle.loads(pickle.dumps(state))
    assert restored.trackers.keys() == state.trackers.keys()
    assert restored.last_ts == state.last_ts


@pytest.mark.integration  # a simulated fleet's backtest
def test_a_checkpoint_of_the_old_rules_still_loads(faulty_fleet, monkeypatch) -> None:
    """A state pickled before this version (no version field, a five-field tracker, a
    rule class since retired) keeps its open findings and description and re-learns."""
    state = next(s for s in faulty_fleet.states if s.open_findings())

    class BatteryVoltage:
        """The retired rule, as an old checkpoint names it."""

    BatteryVoltage.__module__ = battery.__name__
    BatteryVoltage.__qualname__ = "BatteryVoltage"
    monkeypatch.setattr(battery, "BatteryVoltage", BatteryVoltage, raising=False)
    old = pickle.loads(pickle.dumps(state))
    del old.__dict__["version"]
    old.rules["battery_voltage"] = BatteryVoltage()
    for tracker in old.trackers.values():
        tracker.__class__ = _FiveFieldTracker
    blob = zlib.compress(pickle.dumps({state.device_id: old}))
    monkeypatch.delattr(battery, "BatteryVoltage")
    loaded = store.loads(blob)[state.device_id]
    assert loaded.rules == {} and loaded.version == STATE_VERSION
    assert loaded.open_findings() == state.open_findings()
    assert loaded.model == state.model
    assert all(t.sustain_s == 0.0 for t in loaded.trackers.values())


class _FiveFieldTracker(Tracker):
    """Pickles as the tracker did before it had a sustain time."""

    __slots__ = ()

    def __reduce__(self) -> tuple[object, ...]:
        return (Tracker, (), self.__getstate__()[:5])


def test_late_and_repeated_samples_are_ignored() -> None:
    ts = 1.79e9 + 900 * np.arange(96)
    block = Block.from_columns(ts, {"cpu_temp_c": 40 + np.sin(ts), "cpu_load_pct": ts * 0 + 30})
    state = DeviceState("dev-late")
    state.process(block)
    before = pickle.dumps(state.rules)
    assert state.process(block) == []
    assert state.process(block.after(ts[50] - 1)) == []
    assert state.late == 96 + 46
    assert pickle.dumps(state.rules) == before


def test_a_tracker_opens_once_and_resolves_with_hysteresis() -> None:
    def level(value: float) -> Assessment:
        return Assessment(
            FaultKind.CRASH_LOOP, value, "t", lambda: Explanation(Severity.MEDIUM, 0.8, "Because.")
        )

    tracker = Tracker(clear_s=DAY)
    seen = []
    timeline = [0.2, 0.4, 1.2, 0.8, 0.45, 1.1, 0.3, 0.3, 0.3, 0.2]
    for hour, value in enumerate(timeline):
        change = tracker.observe("d", hour * 6 * 3600.0, level(value), may_open=True)
        seen.append(None if change is None else change.what)
    assert seen == [None, None, "opened", None, None, "updated", None, None, None, None]
    change = tracker.observe("d", 10 * 6 * 3600.0, level(0.2), may_open=True)
    assert change is not None and change.what == "resolved"
    assert change.finding.onset_at == 6 * 3600.0, "onset: when the level first rose"
    assert tracker.observe("d", 11 * 6 * 3600.0, level(5.0), may_open=False) is None


def test_guarded_anomaly_model_never_learns_from_what_it_flags() -> None:
    model = Guarded(ScaledDeviation(warmup=10), threshold=0.9)
    rng = np.random.default_rng(1)
    for _ in range(100):
        model.process_one({"cpu_temp_c": 40 + rng.normal()})
    mean = model.anomaly_detector.mean("cpu_temp_c")
    assert model.process_one({"cpu_temp_c": 90.0}) > 0.9
    assert model.anomaly_detector.mean("cpu_temp_c") == mean
    assert model.process_one({"cpu_temp_c": 40.5}) < 0.5
    assert not math.isnan(model.anomaly_detector.mean("cpu_temp_c"))


@pytest.mark.parametrize(
    ("model", "noun"),
    [
        ("Pixel 8", "phone"),
        ("Galaxy S23", "phone"),
        ("Galaxy Tab S8", "tablet"),
        ("ThinkPad X1 Carbon", "laptop"),
        ("Gateway Pi 4", "gateway"),
        (None, "device"),
    ],
)
def test_reasons_name_the_device_as_its_owner_would(model: str | None, noun: str) -> None:
    assert Context("d", model).noun == noun


@pytest.mark.parametrize(
    ("device_class", "model", "os_name", "noun"),
    [
        ("laptop", "Pixel 8", None, "laptop"),
        ("Tablet", None, None, "tablet"),
        ("gateway", "Galaxy S23", None, "gateway"),
        ("toaster", "Pixel 8", None, "phone"),
        (None, "XPS 13", "Ubuntu", "laptop"),
        (None, None, None, "device"),
    ],
)
def test_the_reported_device_class_comes_first(
    device_class: str | None, model: str | None, os_name: str | None, noun: str
) -> None:
    """The class the device reports wins; an unknown one falls back to the model and OS
    names, and nothing known gives "device"."""
    assert Context("d", model, device_class=device_class, os_name=os_name).noun == noun
