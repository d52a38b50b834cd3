"""The widened simulator (issue 12): families, the tuning / held-out split, device physics."""

from __future__ import annotations

import numpy as np
import pytest

from devicecare.contracts import (
    DeviceClass,
    DeviceTopic,
    EventKind,
    Status,
    TelemetryBatch,
    decode,
)
from devicecare.contracts.vocabulary import FaultKind
from simulator.families import (
    DEVICE_FAMILIES,
    FAULT_FAMILIES,
    SITUATIONS,
    Curve,
    SplitName,
    split,
)
from simulator.faults import DAY_MS, Fault, NonFaultKind
from simulator.fleet import Fleet, Tick
from simulator.run import Plan, simulate, start_of
from simulator.sessions import Upload

pytestmark = pytest.mark.integration  # whole simulated fleets

START = 1_790_000_000_000
STEP_S = 900.0
TUNING, HELD_OUT = split("tuning"), split("held-out")


def run(fleet: Fleet, days: float) -> list[Tick]:
    steps = int(days * 86400 / STEP_S)
    return [fleet.step(START + int(k * STEP_S * 1000), STEP_S) for k in range(steps)]


def column(ticks: list[Tick], device: int, metric: str) -> np.ndarray:
    return np.array([t.readings[metric][device] for t in ticks])


def test_the_split_divides_every_family_and_covers_every_kind_and_class() -> None:
    for families in (DEVICE_FAMILIES, FAULT_FAMILIES, SITUATIONS):
        names = [f.name for f in families]
        assert len(names) == len(set(names))
    for side in (TUNING, HELD_OUT):
        assert {f.kind for f in side.fault_families} == set(FaultKind)
        assert {m.device_class for f in side.device_families for m in f.models} == set(DeviceClass)
    assert not {f.name for f in TUNING.fault_families} & {f.name for f in HELD_OUT.fault_families}
    tuning_models = {m.name for f in TUNING.device_families for m in f.models}
    held_models = {m.name for f in HELD_OUT.device_families for m in f.models}
    assert not tuning_models & held_models, "held-out devices are models tuning never saw"
    curves = {c for f in FAULT_FAMILIES for c in f.curves}
    assert curves >= {Curve.STEP, Curve.LINEAR, Curve.ACCELERATING, Curve.INTERMITTENT}
    assert HELD_OUT.salt != TUNING.salt
    assert split("held_out").name is SplitName.HELD_OUT
    with pytest.raises(ValueError, match="tuning or held-out"):
        split("everything")


def test_a_split_fleet_is_reproducible_and_seeded_apart_from_the_other_split() -> None:
    one, two = (Fleet(40, seed=3, start_ms=START, days=20, split=TUNING) for _ in range(2))
    assert one.truth() == two.truth()
    for a, b in zip(run(one, 1), run(two, 1), strict=True):
        assert a.samples == b.samples
        assert a.events == b.events
    held = Fleet(40, seed=3, start_ms=START, days=20, split=HELD_OUT)
    assert set(held.ids).isdisjoint(one.ids)
    assert not np.array_equal(held.usage, one.usage)


@pytest.mark.parametrize("side", [TUNING, HELD_OUT], ids=["tuning", "held_out"])
def test_truth_names_the_family_of_every_device_fault_and_situation(side) -> None:
    fleet = Fleet(200, seed=2, start_ms=START, days=60, faults="all=5", split=side)
    truth = fleet.truth()
    assert truth["split"] == side.name.value
    families = {f.name for f in side.fault_families}
    assert {f["family"] for f in truth["faults"]} <= families  # type: ignore[union-attr]
    assert len({f["family"] for f in truth["faults"]}) >= len(families) - 2  # type: ignore[union-attr]
    situations = {s.name for s in side.situations}
    seen = {w["family"] for w in truth["non_faults"]}  # type: ignore[union-attr]
    assert seen - situations <= {f"offline.{d.name}" for d in side.device_families}
    classes = {d["device_class"] for d in truth["devices"]}  # type: ignore[union-attr]
    assert classes == {c.value for c in DeviceClass}


@pytest.mark.parametrize(
    "curve", [Curve.STEP, Curve.LINEAR, Curve.ACCELERATING, Curve.INTERMITTENT, Curve.RECOVERING]
)
def test_every_onset_curve_starts_at_onset_and_reaches_full_strength(curve: Curve) -> None:
    knobs = {Curve.INTERMITTENT: (0.5, 4.0, 12345.0), Curve.RECOVERING: (1.0, 3.0, 0.2)}
    full, visible = 10 * DAY_MS, 12 * DAY_MS
    shape = knobs.get(curve, ())
    fault = Fault(0, FaultKind.COOLING_FAILURE, 0, full, visible, "x", curve, (), shape)
    hours = np.arange(0, 20 * 24) * 3_600_000
    strength = np.array([fault.strength(int(t)) for t in hours])
    assert strength[0] == 0
    assert ((strength >= 0) & (strength <= 1)).all()
    assert strength.max() == 1.0
    if curve is Curve.INTERMITTENT:
        late = strength[hours > 2 * DAY_MS]
        assert (late == 0).mean() > 0.2, "off between episodes"
    if curve is Curve.RECOVERING:
        eased = strength[(hours >= 11 * DAY_MS) & (hours < 13 * DAY_MS)]
        assert (eased == 0.2).all()
        assert strength[-1] == 1.0, "it comes back"
    if curve is Curve.ACCELERATING:
        assert strength[hours == 5 * DAY_MS][0] < 0.2


def test_devices_of_each_class_behave_as_their_class() -> None:
    fleet = Fleet(80, seed=4, start_ms=START, days=10, faults="none", split=TUNING)
    ticks = run(fleet, 10)
    classes = fleet.wide.classes
    reporting = np.array([t.reporting for t in ticks]).T
    for device, cls in enumerate(classes):
        pct = column(ticks, device, "battery_pct")
        if cls is DeviceClass.GATEWAY:
            assert np.isnan(pct).all()
            continue
        sent = pct[reporting[device]]
        assert np.all(sent == np.round(sent)), "integer percent"
        assert np.nanmax(pct) <= fleet.wide.limit[device] + 1, "never charged past its limit"
    laptops = [d for d, c in enumerate(classes) if c is DeviceClass.LAPTOP]
    assert any(fleet.wide.off_nightly[d] and not reporting[d].all() for d in laptops)
    gateways = [d for d, c in enumerate(classes) if c is DeviceClass.GATEWAY]
    reboots = [
        e
        for t in ticks
        for d, e in t.events
        if d in gateways and e.kind is EventKind.REBOOT and (e.detail or {}).get("reason")
    ]
    assert reboots, "gateways reboot on schedule"


def test_laptops_run_hotter_on_mains_at_the_same_load() -> None:
    fleet = Fleet(120, seed=6, start_ms=START, days=14, faults="none", split=TUNING)
    ticks = run(fleet, 14)
    rises = []
    for device in np.flatnonzero(fleet.wide.charging == 2):
        cpu = column(ticks, device, "cpu_temp_c")
        load = column(ticks, device, "cpu_load_pct")
        current = column(ticks, device, "battery_current_a")
        busy = (load > 50) & np.isfinite(cpu)
        mains, battery = busy & (current >= 0), busy & (current < 0)
        if mains.sum() > 5 and battery.sum() > 5:
            rises.append(cpu[mains].mean() - cpu[battery].mean())
    assert rises and np.mean(rises) > 3


def test_the_fuel_gauge_relearns_capacity_with_noise_of_about_a_percent() -> None:
    fleet = Fleet(60, seed=8, start_ms=START, days=30, faults="none", split=TUNING)
    ticks = run(fleet, 30)
    jumps = []
    for device in np.flatnonzero(fleet.has_battery):
        full = column(ticks, device, "battery_full_wh")
        full = full[np.isfinite(full)]
        steps = np.diff(full)
        jumps += list(np.abs(steps[steps != 0]) / full[0])
    assert len(jumps) > 60
    assert 0.003 < float(np.median(jumps)) < 0.03
    assert any(j > 0 for j in jumps), "learned capacity also goes up"


def test_an_os_update_writes_gigabytes_in_a_day_and_reboots() -> None:
    fleet = Fleet(60, seed=9, start_ms=START, days=20, faults="all=0,os_update=60", split=TUNING)
    ticks = run(fleet, 20)
    t = np.array([tick.t_ms for tick in ticks])
    updates = [w for w in fleet.windows if w.kind is NonFaultKind.OS_UPDATE][:6]
    assert updates
    for window in updates:
        assert window.device is not None
        free = column(ticks, window.device, "storage_free_bytes")
        inside = (t >= window.start_ms) & (t < window.end_ms) & np.isfinite(free)
        if inside.sum() > 10:
            written = free[inside][0] - free[inside].min()
            assert written > 1e9
        reboots = [
            e
            for tick in ticks
            for d, e in tick.events
            if d == window.device and (e.detail or {}).get("reason") == "os_update"
        ]
        assert reboots


def test_a_run_flat_device_goes_silent_and_boots_when_its_window_ends() -> None:
    fleet = Fleet(40, seed=10, start_ms=START, days=25, faults="all=0,run_flat=80", split=TUNING)
    ticks = run(fleet, 25)
    boots = [
        (d, e)
        for tick in ticks
        for d, e in tick.events
        if (e.detail or {}).get("reason") == "battery_empty"
    ]
    assert boots, "some devices ran flat and came back"
    device = boots[0][0]
    reporting = np.array([tick.reporting[device] for tick in ticks])
    assert not reporting.all()


def test_watchdog_reboots_come_without_a_panic_record() -> None:
    fleet = Fleet(
        40, seed=12, start_ms=START, days=20, faults="all=0,kernel_fault=15", split=TUNING
    )
    ticks = run(fleet, 20)
    watchdog = [f for f in fleet.faults if f.family == "kernel.watchdog"]
    assert watchdog
    for fault in watchdog:
        mine = [e for t in ticks for d, e in t.events if d == fault.device]
        assert not [e for e in mine if e.kind is EventKind.KERNEL_PANIC]
        reboots = [e for e in mine if e.kind is EventKind.REBOOT and e.ts >= fault.onset_ms]
        assert len(reboots) >= 5
        reasons = {(e.detail or {}).get("reason") for e in reboots}
        assert reasons & {"watchdog", None}


def test_paste_cooling_warms_the_cpu_a_little_and_leaves_the_battery_alone() -> None:
    fleet = Fleet(
        40, seed=13, start_ms=START, days=30, faults="all=0,cooling_failure=20", split=TUNING
    )
    ticks = run(fleet, 30)
    t = np.array([tick.t_ms for tick in ticks])
    paste = [f for f in fleet.faults if f.family == "cooling.paste"]
    assert paste
    for fault in paste:
        offset = dict(fault.effects)["cool_offset"]
        cpu = column(ticks, fault.device, "cpu_temp_c")
        before, after = t < fault.onset_ms, t >= fault.full_ms
        rise = np.nanmean(cpu[after]) - np.nanmean(cpu[before])
        assert 0 < rise < offset + 4


def test_a_split_fleet_uploads_its_class_and_no_empty_batches() -> None:
    plan = Plan(devices=30, days=3, seed=2, upload_hours=2)
    fleet = Fleet(30, seed=2, start_ms=start_of(plan, START), days=3, split=HELD_OUT)
    sent: list[Upload] = []
    outcome = simulate(plan, fleet, dict.fromkeys(fleet.ids, "pw"), sent.append)
    classes = set()
    for upload in sent:
        for channel, payload, _ in upload.messages:
            where = DeviceTopic(upload.device_id, channel)
            message = decode(where, payload, now_ms=START)
            if isinstance(message, Status):
                classes.add(message.device_class)
            if isinstance(message, TelemetryBatch):
                assert message.samples
    assert classes == set(DeviceClass)
    assert 0 < outcome.samples < 30 * 3 * 96, "devices that are off or offline send nothing"
