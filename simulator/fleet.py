"""A fleet of simulated devices, stepped together (numpy arrays, one element per device).

Each step advances every device by `dt` seconds and yields its sample and any events.
The physics is simple but causal: activity follows a daily rhythm and the owner's usage;
load heats the CPU and the battery; charging follows the owner's habit (overnight or
when low) and heats the battery; discharge depth adds cycles, and cycles and heat fade
the capacity and raise the internal resistance, which sags the voltage under load.
Storage fills with photos and caches and is cleaned now and then; writes wear the flash.
Apps crash rarely, more with some versions. Faults and non-faults (`faults.py`) change
these quantities gradually from their onset. Same seed, same fleet, same series.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from devicecare.contracts import Event, EventKind, Sample
from simulator.faults import DAY_MS, Fault, FaultKind, NonFaultKind, parse_spec, schedule

HOUR_S = 3600.0
GB = 1_000_000_000


@dataclass(frozen=True)
class Model:
    name: str
    os_name: str
    os_versions: tuple[str, ...]
    battery_wh: float | None
    storage_gb: int
    throttle_c: float
    drain_pct_h: float
    """Battery drain at full activity, % of capacity per hour."""
    power_w: float
    heat_c: float
    """CPU temperature rise over ambient at full load."""


MODELS: tuple[Model, ...] = (
    Model("Pixel 8", "Android", ("14", "15"), 17.0, 128, 82, 11.0, 4.0, 40),
    Model("Galaxy S23", "Android", ("13", "14"), 15.0, 256, 80, 12.0, 4.5, 42),
    Model("Galaxy Tab S8", "Android", ("13", "14"), 31.0, 128, 78, 8.0, 6.0, 34),
    Model("ThinkPad X1 Carbon", "Ubuntu", ("22.04", "24.04"), 57.0, 512, 90, 14.0, 12.0, 48),
    Model("Gateway Pi 4", "Debian GNU/Linux", ("12",), None, 32, 80, 0.0, 3.0, 30),
)
MODEL_SHARE = (0.35, 0.30, 0.12, 0.13, 0.10)
APPS = ("camera", "maps", "chat", "bank", "browser", "music", "mail", "games")
REGIONS = 4
BASE_CRASHES_PER_APP_DAY = 1 / 120
KERNEL_PANIC_SIGNATURE = "panic Fatal exception in interrupt ufshcd_intr"


@dataclass(frozen=True)
class _Gauges:
    """One step's readings that are not fleet state, one array element per device."""

    cpu_temp: np.ndarray
    throttled: np.ndarray
    load: np.ndarray
    charging: np.ndarray
    voltage: np.ndarray
    current: np.ndarray
    battery_temp: np.ndarray


@dataclass
class Tick:
    """What one step produced: samples by device index, and (device, event) pairs."""

    t_ms: int
    samples: list[Sample]
    events: list[tuple[int, Event]] = field(default_factory=list)
    readings: dict[str, np.ndarray] = field(default_factory=dict)
    """The same samples as columns (metric -> one element per device, NaN if absent)."""


class Fleet:
    def __init__(
        self,
        devices: int,
        *,
        seed: int,
        start_ms: int,
        days: float,
        faults: str | None = None,
    ) -> None:
        self.n = devices
        self.rng = np.random.default_rng(seed)
        rng = self.rng
        self.start_ms = start_ms
        self.model_index = rng.choice(len(MODELS), size=devices, p=MODEL_SHARE)
        self.models = [MODELS[i] for i in self.model_index]
        self.os_versions = [m.os_versions[rng.integers(len(m.os_versions))] for m in self.models]
        self.ids = [f"sim-{seed:x}-{i:05d}" for i in range(devices)]
        self.region = rng.integers(0, REGIONS, size=devices)
        self.tz_h = np.array([-5.0, 1.0, 5.5, 9.0])[self.region]
        self.ambient_base = np.array([18.0, 21.0, 27.0, 24.0])[self.region] + rng.normal(
            0, 1.5, devices
        )
        self.usage = rng.lognormal(0.0, 0.3, devices)
        self.night_charger = rng.random(devices) < 0.75
        self.charge_hour = rng.uniform(21.5, 24.5, devices) % 24
        self.has_battery = np.array([m.battery_wh is not None for m in self.models])
        self.design_wh = np.array([m.battery_wh or 0.0 for m in self.models])
        self.drain = np.array([m.drain_pct_h for m in self.models])
        self.power = np.array([m.power_w for m in self.models])
        self.heat = np.array([m.heat_c for m in self.models])
        self.throttle_c = np.array([m.throttle_c for m in self.models]) + rng.normal(
            0, 1.0, devices
        )
        self.total = np.array([m.storage_gb * GB for m in self.models], dtype=np.float64)
        age_days = rng.uniform(30, 900, devices)
        self.cycles = age_days * rng.uniform(0.5, 1.0, devices)
        self.health = np.clip(1.0 - self.cycles * 0.00018 - age_days * 0.00002, 0.82, 1.0)
        self.charge = rng.uniform(30, 95, devices)
        self.plugged = np.zeros(devices, dtype=bool)
        self.used = self.total * rng.uniform(0.3, 0.75, devices)
        self.wear = rng.uniform(2, 25, devices)
        self.app_version = rng.integers(1, 4, size=(devices, len(APPS)))
        rates = parse_spec(faults)
        self.faults, self.windows = schedule(
            rng,
            devices=devices,
            start_ms=start_ms,
            days=days,
            rates=rates,
            has_battery=self.has_battery,
            regions=REGIONS,
        )
        self.fault_of: dict[int, Fault] = {f.device: f for f in self.faults}
        self.crash_app = {f.device: int(rng.integers(len(APPS))) for f in self.faults}
        self.pending_reboots: list[tuple[int, int]] = []

    # --- helpers

    def _strength(self, kind: FaultKind, t_ms: int) -> np.ndarray:
        out = np.zeros(self.n)
        for fault in self.faults:
            if fault.kind is kind:
                out[fault.device] = fault.strength(t_ms)
        return out

    def _window_mask(self, kind: NonFaultKind, t_ms: int) -> np.ndarray:
        mask = np.zeros(self.n, dtype=bool)
        for window in self.windows:
            if window.kind is kind and window.covers(t_ms):
                if window.device is not None:
                    mask[window.device] = True
                else:
                    mask |= self.region == window.region
        return mask

    # --- one step

    def step(self, t_ms: int, dt_s: float) -> Tick:  # noqa: PLR0915 - coupled physics, read as one
        rng, n = self.rng, self.n
        dt_h = dt_s / HOUR_S
        hour = ((t_ms / 1000 / HOUR_S) + self.tz_h) % 24

        heavy = self._window_mask(NonFaultKind.HEAVY_USAGE, t_ms)
        hot = self._window_mask(NonFaultKind.HOT_WEEK, t_ms)
        fade = self._strength(FaultKind.BATTERY_FADE, t_ms)
        swelling = self._strength(FaultKind.BATTERY_SWELLING, t_ms)
        bad_cell = self._strength(FaultKind.BATTERY_BAD_CELL, t_ms)
        cooling = self._strength(FaultKind.COOLING_FAILURE, t_ms)
        charger = self._strength(FaultKind.FAULTY_CHARGER, t_ms)
        runaway = self._strength(FaultKind.STORAGE_RUNAWAY, t_ms)
        eol = self._strength(FaultKind.FLASH_EOL, t_ms)

        # activity: quiet nights, busy evenings, the owner's own level, heavy-use weeks
        rhythm = 0.12 + 0.55 * (np.sin((hour - 9) / 24 * 2 * math.pi) + 1) / 2
        rhythm = np.where((hour >= 19) & (hour < 23), rhythm + 0.2, rhythm)
        rhythm = np.where(hour < 6.5, 0.05, rhythm)
        activity = np.clip(
            rhythm * self.usage * np.where(heavy, 2.3, 1.0) + rng.normal(0, 0.05, n), 0.02, 1.0
        )
        load = np.clip(activity * 85 + rng.normal(0, 4, n), 1, 100)

        ambient = (
            self.ambient_base + 4 * np.sin((hour - 9) / 24 * 2 * math.pi) + np.where(hot, 11.0, 0.0)
        )

        # charging habit: overnight chargers plug in at their hour, everyone when low
        at_night = ((hour - self.charge_hour) % 24) < 7.5
        plug = (self.night_charger & at_night) | (self.charge < 12 + rng.uniform(0, 8, n))
        self.plugged = self.has_battery & np.where(self.plugged, self.charge < 99.5, plug)
        charging = self.plugged & (self.charge < 99.5)

        capacity = np.maximum(self.health, 0.3)
        drain = self.drain * (0.15 + activity) / capacity * dt_h
        gain = np.where(self.charge < 80, 48.0, 16.0) * dt_h
        delta = np.where(charging, gain, -drain)
        drops = (rng.random(n) < bad_cell * 0.12 * dt_h * 4) & ~charging
        delta -= np.where(drops, rng.uniform(15, 40, n), 0.0)
        new_charge = np.clip(self.charge + delta, 0.0, 100.0)
        discharged = np.maximum(self.charge - new_charge, 0.0)
        self.charge = np.where(self.has_battery, new_charge, 0.0)
        self.cycles += discharged / 100

        battery_temp = (
            ambient
            + 7 * load / 100
            + np.where(charging, 5.0 + 13.0 * charger, 0.0)
            + 9 * swelling
            + rng.normal(0, 0.6, n)
            + np.where(rng.random(n) < swelling * 0.2, rng.uniform(2, 6, n), 0.0)
        )
        heat_factor = 2 ** ((battery_temp - 25) / 10)
        fade_now = (discharged / 100) * 0.00018 * heat_factor + dt_h / 24 * 0.00002 * heat_factor
        fade_now *= 1 + 14 * fade
        self.health = np.clip(self.health - np.where(self.has_battery, fade_now, 0.0), 0.3, 1.0)
        resistance = 0.08 + 0.25 * (1 - self.health) + 0.15 * swelling

        cpu_temp = (
            ambient
            + self.heat * load / 100
            + cooling * (15 + 40 * load / 100)
            + rng.normal(0, 1.2, n)
        )
        throttled = cpu_temp > self.throttle_c

        ocv = 3.45 + 0.0075 * self.charge + 0.06 * np.tanh((self.charge - 50) / 20)
        current = np.where(
            charging,
            np.where(self.charge < 80, 2.2, 0.8),
            -(0.3 * self.power + self.power * load / 100) / ocv,
        )
        voltage = (
            ocv + current * resistance + swelling * rng.normal(0, 0.04, n) + rng.normal(0, 0.004, n)
        )

        # storage: photos and caches fill it, clean-ups free it, runaway logs flood it
        per_hour = rng.exponential(15e6, n) * activity + 1e6 + runaway * 12 * GB / 24
        writes = per_hour * dt_h
        cleanup = rng.random(n) < dt_h / 24 / 25
        self.used = np.where(cleanup, self.used * rng.uniform(0.8, 0.95, n), self.used + writes)
        self.used = np.minimum(self.used, self.total * 0.995)
        endurance = self.total * 3000
        worn = writes * 3 / endurance * 100 + eol * 8.0 * dt_h / 24
        self.wear = np.minimum(self.wear + worn, 100.0)

        gauges = _Gauges(cpu_temp, throttled, load, charging, voltage, current, battery_temp)
        readings = self._readings(gauges)
        return Tick(t_ms, self._samples(t_ms, readings), self._events(t_ms, dt_h), readings)

    def _readings(self, g: _Gauges) -> dict[str, np.ndarray]:
        """Each metric as the devices report it (rounded), one element per device; NaN
        where a device lacks the sensor."""
        wear = self.wear
        battery = np.where(self.has_battery, 1.0, np.nan)
        return {
            "battery_pct": np.round(self.charge, 1) * battery,
            "battery_charging": g.charging * battery,
            "battery_voltage_v": np.round(g.voltage, 3) * battery,
            "battery_current_a": np.round(g.current, 3) * battery,
            "battery_temp_c": np.round(g.battery_temp, 1) * battery,
            "battery_full_wh": np.round(self.design_wh * self.health, 2) * battery,
            "battery_design_wh": self.design_wh * battery,
            "battery_cycles": np.floor(self.cycles) * battery,
            "cpu_temp_c": np.round(g.cpu_temp, 1),
            "thermal_throttled": g.throttled.astype(np.float64),
            "cpu_load_pct": np.round(g.load, 1),
            "storage_total_bytes": np.floor(self.total),
            "storage_free_bytes": np.floor(self.total - self.used),
            "flash_wear_pct": np.minimum(100.0, np.ceil(wear / 10) * 10),
            "flash_pre_eol": np.select([wear >= 90, wear >= 80], [3.0, 2.0], 1.0),
        }

    def _samples(self, t_ms: int, r: dict[str, np.ndarray]) -> list[Sample]:
        """One Sample per device from the readings; columns are converted to Python
        values with numpy in one go, which keeps this loop cheap."""
        common = zip(
            r["cpu_temp_c"].tolist(),
            _flags(r["thermal_throttled"]),
            r["cpu_load_pct"].tolist(),
            r["storage_total_bytes"].astype(np.int64).tolist(),
            r["storage_free_bytes"].astype(np.int64).tolist(),
            r["flash_wear_pct"].tolist(),
            r["flash_pre_eol"].astype(np.int64).tolist(),
            strict=True,
        )
        battery = zip(
            r["battery_pct"].tolist(),
            _flags(np.nan_to_num(r["battery_charging"])),
            r["battery_voltage_v"].tolist(),
            r["battery_current_a"].tolist(),
            r["battery_temp_c"].tolist(),
            r["battery_full_wh"].tolist(),
            r["battery_design_wh"].tolist(),
            np.nan_to_num(r["battery_cycles"]).astype(np.int64).tolist(),
            strict=True,
        )
        samples = []
        for has_battery, (cpu, thr, load, total, free, flash, eol), bat in zip(
            self.has_battery.tolist(), common, battery, strict=True
        ):
            if has_battery:
                samples.append(
                    Sample(
                        ts=t_ms,
                        battery_pct=bat[0],
                        battery_charging=bat[1],
                        battery_voltage_v=bat[2],
                        battery_current_a=bat[3],
                        battery_temp_c=bat[4],
                        battery_full_wh=bat[5],
                        battery_design_wh=bat[6],
                        battery_cycles=bat[7],
                        cpu_temp_c=cpu,
                        thermal_throttled=thr,
                        cpu_load_pct=load,
                        storage_total_bytes=total,
                        storage_free_bytes=free,
                        flash_wear_pct=flash,
                        flash_pre_eol=eol,
                    )
                )
            else:
                samples.append(
                    Sample(
                        ts=t_ms,
                        cpu_temp_c=cpu,
                        thermal_throttled=thr,
                        cpu_load_pct=load,
                        storage_total_bytes=total,
                        storage_free_bytes=free,
                        flash_wear_pct=flash,
                        flash_pre_eol=eol,
                    )
                )
        return samples

    def _events(self, t_ms: int, dt_h: float) -> list[tuple[int, Event]]:
        rng = self.rng
        events: list[tuple[int, Event]] = []
        due = [r for r in self.pending_reboots if r[1] <= t_ms]
        self.pending_reboots = [r for r in self.pending_reboots if r[1] > t_ms]
        for device, at in due:
            events.append((device, Event(ts=at, kind=EventKind.REBOOT)))
        crashes = rng.poisson(BASE_CRASHES_PER_APP_DAY * len(APPS) * dt_h / 24, self.n)
        for device in np.flatnonzero(crashes):
            for _ in range(int(crashes[device])):
                app = int(rng.integers(len(APPS)))
                events.append(
                    (int(device), self._app_crash(device, app, t_ms, variant=int(rng.integers(5))))
                )
        for fault in self.faults:
            strength = fault.strength(t_ms)
            if strength <= 0:
                continue
            if fault.kind is FaultKind.CRASH_LOOP:
                for _ in range(rng.poisson(strength * 10 * dt_h)):
                    events.append(
                        (
                            fault.device,
                            self._app_crash(
                                fault.device, self.crash_app[fault.device], t_ms, variant=99
                            ),
                        )
                    )
            elif fault.kind is FaultKind.KERNEL_FAULT:
                for _ in range(rng.poisson(strength * 5 * dt_h / 24)):
                    at = t_ms - int(rng.uniform(0, dt_h * HOUR_S * 1000))
                    events.append(
                        (
                            fault.device,
                            Event(
                                ts=at,
                                kind=EventKind.KERNEL_PANIC,
                                process="kernel",
                                signature=KERNEL_PANIC_SIGNATURE,
                            ),
                        )
                    )
                    self.pending_reboots.append(
                        (fault.device, at + int(rng.uniform(30, 90) * 1000))
                    )
        return events

    def _app_crash(self, device: int, app: int, t_ms: int, *, variant: int) -> Event:
        name = APPS[app]
        version = f"{int(self.app_version[device, app])}.{variant % 3}"
        if variant == 99:
            version = f"{int(self.app_version[device, app]) + 1}.0"
            signature = f"SIGSEGV lib{name}.so!{name.capitalize()}Session::restore loop"
        else:
            signature = f"SIGSEGV lib{name}.so!{name}_fn{variant}"
        return Event(
            ts=t_ms - int(self.rng.uniform(0, 1) * 60_000),
            kind=EventKind.APP_CRASH if variant != 99 else EventKind.NATIVE_CRASH,
            process=f"com.example.{name}",
            signature=signature,
            app_version=version,
        )

    def truth(self) -> dict[str, object]:
        """Ground truth for evaluation: every fault and non-fault of the run."""
        return {
            "devices": [
                {"device_id": d, "model": m.name, "os_version": v, "region": int(r)}
                for d, m, v, r in zip(
                    self.ids, self.models, self.os_versions, self.region, strict=True
                )
            ],
            "faults": [
                {
                    "device_id": self.ids[f.device],
                    "kind": f.kind.value,
                    "onset_ms": f.onset_ms,
                    "full_ms": f.full_ms,
                    "visible_ms": f.visible_ms,
                }
                for f in self.faults
            ],
            "non_faults": [
                {
                    "kind": w.kind.value,
                    "device_id": None if w.device is None else self.ids[w.device],
                    "region": w.region,
                    "start_ms": w.start_ms,
                    "end_ms": w.end_ms,
                }
                for w in self.windows
            ],
        }


def _flags(values: np.ndarray) -> list[bool]:
    """Booleans from a 0/1 array, as Python values."""
    return (values > 0.5).tolist()


def day_ms(days: float) -> int:
    return int(days * DAY_MS)
