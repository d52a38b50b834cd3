"""Thermal evidence (issue 12): mild cooling failure found from a few degrees at light
load or from throttling more often than usual at the same loads; heat waves, heavy use
and a gateway in a warm room not; the thermal state stays small. Synthetic devices from
`test_lookalikes.Device`, run through the live per-device path."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from river import stats

from detectors.block import Block
from detectors.live.anomaly import ScaledDeviation
from detectors.live.findings import Context
from detectors.live.rules.thermal import CpuLoad, ThermalPaths, _as_often
from devicecare.contracts.vocabulary import FaultKind
from tests.detectors.test_lookalikes import DAY, START, Device, opened


def throttling(device: Device, *, seed: int, usual: float, more: np.ndarray | None = None) -> None:
    """Throttling as a device's governor does it: a chance that rises steeply with load
    (`usual` at full load), `more` times that where given."""
    rng = np.random.default_rng(seed)
    load = device.cols["cpu_load_pct"]
    chance = usual * (load / 100) ** 3 * (1.0 if more is None else more)
    device.cols["thermal_throttled"] = (rng.random(len(load)) < chance).astype(float)


def days_of(device: Device) -> list[Block]:
    """The device's telemetry as daily blocks."""
    out = []
    for lo in np.arange(START, START + device.days * DAY, DAY):
        sel = (device.ts >= lo) & (device.ts < lo + DAY)
        out.append(Block.from_columns(device.ts[sel], {k: v[sel] for k, v in device.cols.items()}))
    return out


def ramp(device: Device, start_day: float, days: float) -> np.ndarray:
    return np.clip(((device.ts - START) / DAY - start_day) / days, 0.0, 1.0)


def test_a_few_degrees_at_light_load_is_found_days_before_it_is_felt() -> None:
    """Dried paste: 2.5 °C hotter at any load, battery unchanged, no more throttling."""
    device = Device(seed=21)
    throttling(device, seed=1, usual=0.3)
    strength = ramp(device, 20, 8)
    device.cols["cpu_temp_c"] = device.cols["cpu_temp_c"] + 2.5 * strength
    changes = device.run(device_class="phone")
    found = opened(changes)
    assert set(found) == {FaultKind.COOLING_FAILURE.value}, found
    assert found[FaultKind.COOLING_FAILURE].startswith("Your phone's processor runs about")
    when = next(c.finding.detected_at for c in changes if c.what == "opened")
    assert when < START + 28 * DAY, (when - START) / DAY


def test_a_degree_at_light_load_is_not_a_fault() -> None:
    device = Device(seed=22)
    throttling(device, seed=2, usual=0.3)
    device.cols["cpu_temp_c"] = device.cols["cpu_temp_c"] + 1.0 * ramp(device, 20, 4)
    assert opened(device.run()) == {}


def test_throttling_four_times_as_often_at_the_same_load_is_found() -> None:
    """The temperature at light load does not move; the device throttles four times as
    often as it usually does at the same loads: evidence in its own right."""
    device = Device(seed=23)
    throttling(device, seed=3, usual=0.8, more=1 + 3 * ramp(device, 20, 5))
    found = opened(device.run(device_class="laptop"))
    assert set(found) == {FaultKind.COOLING_FAILURE.value}, found
    reason = found[FaultKind.COOLING_FAILURE]
    assert reason.startswith("Your laptop's processor slows itself down"), reason
    assert "as often as it used to at the same load" in reason


def test_throttling_a_little_more_often_is_not_a_fault() -> None:
    device = Device(seed=24)
    throttling(device, seed=4, usual=0.8, more=1 + 0.3 * ramp(device, 20, 5))
    assert opened(device.run()) == {}


def test_heavier_use_throttles_more_but_not_more_often_at_the_same_load() -> None:
    """A busy week: far more time at high load, where throttling is normal."""
    device = Device(seed=25)
    busy = device.at(22) & ~device.at(28)
    load = device.cols["cpu_load_pct"]
    load[busy] = np.clip(load[busy] * 2.2, 1, 100)
    device.cols["cpu_temp_c"][busy] += 30 * (load[busy] / 100) * (1 - 1 / 2.2)
    device.cols["battery_temp_c"][busy] += 6 * (load[busy] / 100) * (1 - 1 / 2.2)
    throttling(device, seed=5, usual=0.4)
    assert opened(device.run()) == {}


def test_a_heat_wave_that_makes_the_device_throttle_is_not_a_fault() -> None:
    """Ten degrees warmer surroundings for a week: both temperatures rise, and the device
    throttles twice as often at the same loads; the battery shows it is the room."""
    device = Device(seed=26)
    hot = device.at(22) & ~device.at(29)
    for name in ("cpu_temp_c", "battery_temp_c"):
        device.cols[name][hot] += 10.0
    throttling(device, seed=6, usual=0.4, more=np.where(hot, 2.5, 1.0))
    assert opened(device.run()) == {}


def test_a_gateway_throttling_more_often_is_found_by_cpu_load() -> None:
    device = Device(seed=27, battery=False)
    strength = ramp(device, 20, 5)
    device.cols["cpu_temp_c"] = device.cols["cpu_temp_c"] + 2.5 * strength
    throttling(device, seed=7, usual=0.4, more=1 + 2.5 * strength)
    found = opened(device.run(model="Gateway Pi 4", device_class="gateway"))
    assert set(found) == {FaultKind.COOLING_FAILURE.value}, found
    reason = found[FaultKind.COOLING_FAILURE]
    assert reason.startswith("Your gateway's processor now runs about"), reason
    assert "as often as usual at the same load" in reason


def test_a_gateway_in_a_heat_wave_is_not_a_cooling_failure() -> None:
    """Without a battery thermometer: the CPU is warmer at every load (the room), and
    throttles more often for it."""
    device = Device(seed=28, battery=False)
    hot = device.at(22) & ~device.at(29)
    device.cols["cpu_temp_c"][hot] += 10.0
    throttling(device, seed=8, usual=0.4, more=np.where(hot, 2.5, 1.0))
    assert opened(device.run(model="Gateway Pi 4", device_class="gateway")) == {}


def test_cpu_load_keeps_no_statistics_on_a_device_with_a_battery_thermometer() -> None:
    device = Device(seed=29, days=4)
    rule = CpuLoad()
    for block in days_of(device):
        rule.process_block(block)
    assert rule.heating is None
    assert rule.assess(START + 4 * DAY, Context("d")) == []
    assert len(pickle.dumps(rule)) < 600


def test_thermal_state_stays_small() -> None:
    device = Device(seed=30, days=10)
    rule = ThermalPaths()
    for block in days_of(device):
        rule.process_block(block)
        rule.assess(float(block.ts[-1]), Context("d"))
    assert len(pickle.dumps(rule)) < 3_000


def test_the_anomaly_model_keeps_rivers_ew_mean_and_variance() -> None:
    """The compact arrays give exactly what river's `EWMean` / `EWVar` give."""
    model = ScaledDeviation(fading_factor=0.05)
    mean, var = stats.EWMean(fading_factor=0.05), stats.EWVar(fading_factor=0.05)
    rng = np.random.default_rng(9)
    for value in rng.normal(30, 3, 300):
        model.learn_one({"cpu_temp_c": float(value), "crashes": math.nan})
        mean.update(float(value))
        var.update(float(value))
    assert math.isclose(model.mean("cpu_temp_c"), mean.get(), rel_tol=1e-12)
    z = model.deviations({"cpu_temp_c": 40.0})["cpu_temp_c"]
    spread = math.sqrt(var.get()) + 1e-3 * (abs(mean.get()) + 1.0)
    assert math.isclose(z, (40.0 - mean.get()) / spread, rel_tol=1e-9)
    assert math.isnan(model.mean("crashes"))


@pytest.mark.parametrize(
    ("ratio", "text"),
    [
        (1.5, "twice as often"),
        (2.4, "twice as often"),
        (3.6, "4 times as often"),
        (math.nan, "twice as often"),
    ],
)
def test_more_throttling_reads_naturally(ratio: float, text: str) -> None:
    assert _as_often(ratio) == text
