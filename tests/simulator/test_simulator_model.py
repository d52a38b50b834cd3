"""The simulator's device model: determinism, physics sanity, fault signatures, non-faults."""

from __future__ import annotations

import numpy as np
import pytest

from devicecare.contracts import EventKind
from simulator.faults import DAY_MS, FaultKind, NonFaultKind, parse_spec
from simulator.fleet import Fleet, Tick

pytestmark = pytest.mark.integration  # whole simulated devices over weeks

START = 1_790_000_000_000
STEP_S = 900.0


def run(fleet: Fleet, days: float) -> list[Tick]:
    steps = int(days * 86400 / STEP_S)
    return [fleet.step(START + int(k * STEP_S * 1000), STEP_S) for k in range(steps)]


def series(ticks: list[Tick], device: int, field: str) -> np.ndarray:
    return np.array(
        [np.nan if (v := getattr(t.samples[device], field)) is None else float(v) for t in ticks]
    )


def times(ticks: list[Tick]) -> np.ndarray:
    return np.array([t.t_ms for t in ticks])


def test_the_same_seed_gives_the_same_fleet_and_series() -> None:
    one, two = (Fleet(30, seed=7, start_ms=START, days=20) for _ in range(2))
    assert one.truth() == two.truth()
    for a, b in zip(run(one, 2), run(two, 2), strict=True):
        assert a.samples == b.samples
        assert a.events == b.events
    other = Fleet(30, seed=8, start_ms=START, days=20)
    assert other.truth() != one.truth()


def test_a_healthy_fleet_stays_physical() -> None:
    fleet = Fleet(40, seed=3, start_ms=START, days=30, faults="none")
    assert fleet.faults == []
    ticks = run(fleet, 30)
    for device in range(fleet.n):
        free = series(ticks, device, "storage_free_bytes")
        total = series(ticks, device, "storage_total_bytes")
        assert (free >= 0).all()
        assert (free <= total).all()
        cpu = series(ticks, device, "cpu_temp_c")
        assert np.nanmin(cpu) > 5
        assert np.nanmax(cpu) < 95
        if fleet.has_battery[device]:
            charge = series(ticks, device, "battery_pct")
            assert (charge >= 0).all() and (charge <= 100).all()
            assert charge.max() - charge.min() > 30, "daily cycles of use and charge"
            full = series(ticks, device, "battery_full_wh")
            assert (np.diff(full) <= 1e-9).all(), "capacity never grows back"
            assert full[0] - full[-1] < 0.02 * full[0], "healthy fade is slow"
            cycles = series(ticks, device, "battery_cycles")
            assert (np.diff(cycles) >= 0).all()
            temp = series(ticks, device, "battery_temp_c")
            assert temp.min() > 5
            assert temp.max() < 60
        else:
            assert np.isnan(series(ticks, device, "battery_pct")).all()


def forced(kind: FaultKind, devices: int = 12, days: float = 40) -> tuple[Fleet, list[Tick]]:
    fleet = Fleet(devices, seed=11, start_ms=START, days=days, faults=f"all=0,{kind.value}=5000")
    assert fleet.faults, f"no {kind} was injected"
    assert {f.kind for f in fleet.faults} == {kind}
    return fleet, run(fleet, days)


def before_after(fleet: Fleet, ticks: list[Tick], field: str) -> list[tuple[float, float]]:
    """Per faulted device: the mean of `field` before onset and past half strength."""
    t = times(ticks)
    out = []
    for fault in fleet.faults:
        values = series(ticks, fault.device, field)
        out.append((np.nanmean(values[t < fault.onset_ms]), np.nanmean(values[t >= fault.half_ms])))
    return out


@pytest.mark.parametrize(
    ("kind", "field", "rise"),
    [
        (FaultKind.BATTERY_SWELLING, "battery_temp_c", 5.0),
        (FaultKind.COOLING_FAILURE, "cpu_temp_c", 8.0),
        (FaultKind.FLASH_EOL, "flash_wear_pct", 20.0),
    ],
)
def test_a_fault_shows_after_its_onset(kind: FaultKind, field: str, rise: float) -> None:
    fleet, ticks = forced(kind)
    for before, after in before_after(fleet, ticks, field):
        assert after - before > rise, (before, after)


def test_failed_cooling_throttles_more_often() -> None:
    fleet, ticks = forced(FaultKind.COOLING_FAILURE)
    pairs = before_after(fleet, ticks, "thermal_throttled")
    before = np.mean([b for b, _ in pairs])
    after = np.mean([a for _, a in pairs])
    assert after > before + 0.03


def test_accelerated_fade_loses_capacity_fast() -> None:
    fleet, ticks = forced(FaultKind.BATTERY_FADE)
    t = times(ticks)
    for fault in fleet.faults:
        full = series(ticks, fault.device, "battery_full_wh")
        pre = full[t < fault.onset_ms]
        post = full[t >= fault.half_ms]
        per_day_before = (pre[0] - pre[-1]) / max(1, len(pre)) * 96
        per_day_after = (post[0] - post[-1]) / max(1, len(post)) * 96
        assert per_day_after > 5 * per_day_before


def test_a_faulty_charger_heats_only_while_charging() -> None:
    fleet, ticks = forced(FaultKind.FAULTY_CHARGER)
    t = times(ticks)
    for fault in fleet.faults:
        temp = series(ticks, fault.device, "battery_temp_c")
        charging = series(ticks, fault.device, "battery_charging") == 1
        late = t >= fault.half_ms
        early = t < fault.onset_ms
        heat_charging = temp[late & charging].mean() - temp[early & charging].mean()
        heat_idle = temp[late & ~charging].mean() - temp[early & ~charging].mean()
        assert heat_charging > 8
        assert abs(heat_idle) < 3


def test_a_bad_cell_drops_the_charge_suddenly() -> None:
    fleet, ticks = forced(FaultKind.BATTERY_BAD_CELL)
    t = times(ticks)
    for fault in fleet.faults:
        charge = series(ticks, fault.device, "battery_pct")
        steps = np.diff(charge)
        sudden = steps < -12
        assert not sudden[t[1:] < fault.onset_ms].any()
        assert sudden[t[1:] >= fault.onset_ms].sum() >= 2


def test_runaway_storage_fills_the_disk() -> None:
    fleet, ticks = forced(FaultKind.STORAGE_RUNAWAY)
    t = times(ticks)
    per_day = int(86400 / STEP_S)
    for fault in fleet.faults:
        free = series(ticks, fault.device, "storage_free_bytes")
        before = free[t < fault.onset_ms]
        after = free[t >= fault.half_ms][:per_day]
        usual = (before[0] - before[-1]) / len(before) * per_day
        assert after[0] - after[-1] > 5 * max(usual, 1e8)


@pytest.mark.parametrize(
    ("kind", "event"), [(FaultKind.CRASH_LOOP, "loop"), (FaultKind.KERNEL_FAULT, "panic")]
)
def test_crash_faults_start_at_their_onset(kind: FaultKind, event: str) -> None:
    fleet, ticks = forced(kind)
    for fault in fleet.faults:
        mine = [
            e
            for tick in ticks
            for device, e in tick.events
            if device == fault.device and e.signature and event in e.signature
        ]
        assert len(mine) >= 5
        assert all(e.ts >= fault.onset_ms - 3_600_000 for e in mine)
    if kind is FaultKind.KERNEL_FAULT:
        reboots = [e for t in ticks for _, e in t.events if e.kind is EventKind.REBOOT]
        assert reboots, "a panic is followed by a reboot"


def test_non_faults_stay_inside_their_windows() -> None:
    fleet = Fleet(60, seed=5, start_ms=START, days=30, faults="all=0,heavy_usage=40,hot_week=40")
    ticks = run(fleet, 30)
    t = times(ticks)
    heavy = [w for w in fleet.windows if w.kind is NonFaultKind.HEAVY_USAGE]
    hot = [w for w in fleet.windows if w.kind is NonFaultKind.HOT_WEEK]
    assert heavy and hot
    for window in heavy[:10]:
        assert window.device is not None
        load = series(ticks, window.device, "cpu_load_pct")
        inside = (t >= window.start_ms) & (t < window.end_ms)
        assert load[inside].mean() > load[~inside].mean() + 5
    window = hot[0]
    region = np.flatnonzero(fleet.region == window.region)
    inside = (t >= window.start_ms) & (t < window.end_ms)
    others = [w for w in hot if w.region == window.region and w is not window]
    outside = ~inside
    for other in others:
        outside &= (t < other.start_ms) | (t >= other.end_ms)
    temps = np.array([series(ticks, int(d), "cpu_temp_c") for d in region])
    assert temps[:, inside].mean() > temps[:, outside].mean() + 6


def test_fault_spec_is_checked() -> None:
    assert parse_spec("none")[FaultKind.CRASH_LOOP] == 0
    assert parse_spec("all=2")[FaultKind.CRASH_LOOP] == 2 * parse_spec(None)[FaultKind.CRASH_LOOP]
    with pytest.raises(ValueError, match="unknown kind"):
        parse_spec("gremlins=1")
    with pytest.raises(ValueError, match="negative"):
        parse_spec("crash_loop=-1")


def test_truth_names_every_fault_with_onset_before_the_call() -> None:
    fleet = Fleet(300, seed=2, start_ms=START, days=60)
    truth = fleet.truth()
    assert len(truth["devices"]) == 300  # type: ignore[arg-type]
    faults = truth["faults"]
    assert faults, "default rates inject faults in 300 device-months"
    for fault in faults:  # type: ignore[union-attr]
        assert fault["onset_ms"] < fault["visible_ms"]
        assert START <= fault["onset_ms"] <= START + 60 * DAY_MS
    assert len({f["device_id"] for f in faults}) == len(faults)  # type: ignore[union-attr]
