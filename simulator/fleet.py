"""A fleet of simulated devices, stepped together (numpy arrays, one element per device).

Each step advances every device by `dt` seconds and yields its sample and any events.
The physics is simple but causal: activity follows a daily rhythm and the owner's usage;
load heats the CPU and the battery; charging follows the owner's habit (overnight or
when low) and heats the battery; discharge depth adds cycles, and cycles and heat fade
the capacity and raise the internal resistance, which sags the voltage under load.
Storage fills with photos and caches and is cleaned now and then; writes wear the flash.
Apps crash rarely, more with some versions. Faults and non-faults (`faults.py`) change
these quantities gradually from their onset. Same seed, same fleet, same series.

With a `Split` (`families.py`) the fleet is the widened one: devices of the split's
device families (phones, tablets, laptops, gateways, each with its own power, charge
limit, fuel gauge, quantisation and gaps), faults of its shape families and its
situations. Without one it is the default fleet, unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from devicecare.contracts import Event, EventKind, Sample
from simulator.families import DeviceFamily, Split
from simulator.faults import (
    DAY_MS,
    Fault,
    FaultKind,
    NonFaultKind,
    Window,
    parse_spec,
    schedule,
    schedule_split,
)
from simulator.physics import Channels, Wide, asleep, quantise

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
KERNEL_OOPS_SIGNATURE = "oops BUG: unable to handle page fault in kworker"
IO_ERROR_SIGNATURE = "oops mmc0: I/O error, dev mmcblk0, sector"


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
    samples: list[Sample | None]
    """None for a device that sent nothing this step (off, or offline: widened fleet only)."""
    events: list[tuple[int, Event]] = field(default_factory=list)
    readings: dict[str, np.ndarray] = field(default_factory=dict)
    """The same samples as columns (metric -> one element per device, NaN if absent)."""
    reporting: np.ndarray | None = None
    """Which devices sent a sample this step; None: all of them."""


class Fleet:
    def __init__(  # noqa: PLR0915 - draws the fleet in one place, in the RNG's order
        self,
        devices: int,
        *,
        seed: int,
        start_ms: int,
        days: float,
        faults: str | None = None,
        split: Split | None = None,
    ) -> None:
        self.n = devices
        self.split = split
        self.rng = np.random.default_rng(seed if split is None else [seed, split.salt])
        rng = self.rng
        self.start_ms = start_ms
        if split is None:
            self.model_index = rng.choice(len(MODELS), size=devices, p=MODEL_SHARE)
            self.models = [MODELS[i] for i in self.model_index]
            families: list[DeviceFamily] = []
            chosen = []
        else:
            shares = np.array([f.share for f in split.device_families])
            picked = rng.choice(len(shares), size=devices, p=shares / shares.sum())
            families = [split.device_families[i] for i in picked]
            chosen = [f.models[int(rng.integers(len(f.models)))] for f in families]
            self.models = [
                Model(
                    m.name,
                    m.os_name,
                    m.os_versions,
                    m.battery_wh,
                    m.storage_gb,
                    m.throttle_c,
                    m.drain_pct_h,
                    m.power_w,
                    m.heat_c,
                )
                for m in chosen
            ]
        self.os_versions = [m.os_versions[rng.integers(len(m.os_versions))] for m in self.models]
        self.ids = (
            [f"sim-{seed:x}-{i:05d}" for i in range(devices)]
            if split is None
            else [f"sim-{split.name.value[0]}{seed:x}-{i:05d}" for i in range(devices)]
        )
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
        if split is None:
            self.wide = Wide.neutral(self.models)
            self.faults, self.windows = schedule(
                rng,
                devices=devices,
                start_ms=start_ms,
                days=days,
                rates=rates,
                has_battery=self.has_battery,
                regions=REGIONS,
            )
        else:
            self.wide = Wide.draw(rng, families, chosen)
            self.charge = np.minimum(self.charge, self.wide.limit)
            self.usage *= np.array([f.usage for f in families])
            self.ambient_base += np.array([f.ambient_c for f in families])
            self.night_charger = (self.wide.charging == 0) & (rng.random(devices) < 0.9)
            self.faults, self.windows = schedule_split(
                rng,
                split,
                devices=devices,
                start_ms=start_ms,
                days=days,
                rates=rates,
                has_battery=self.has_battery,
                regions=REGIONS,
            )
            self.windows += self._offline_windows(families, days)
            self.windows.sort(key=lambda w: (w.start_ms, -1 if w.device is None else w.device))
        self.fault_of: dict[int, Fault] = {f.device: f for f in self.faults}
        self.crash_app = {f.device: int(rng.integers(len(APPS))) for f in self.faults}
        self.pending_reboots: list[tuple[int, int, str | None]] = []
        self._waiting = [w for w in self.windows if w.family != "classic"]
        self._live: list[Window] = []
        self.learned = self.health.copy()
        """The fuel gauge's idea of the capacity (widened fleet: re-learnt now and then)."""
        self.next_relearn_ms = np.full(devices, np.inf)
        self.powered = np.ones(devices, dtype=bool)
        self.flat_hold = np.zeros(devices, dtype=bool)
        """Off because it ran flat during a run-flat window: stays off until it ends."""
        self.off_until_ms = np.zeros(devices)
        self.was_asleep = np.zeros(devices, dtype=bool)
        self.fault_bytes = np.zeros(devices)
        self.update_app: dict[int, int] = {}
        self.restore_rate: dict[int, float] = {}
        """Bytes per hour a restoring clean-up writes back, by id of its window."""
        self.next_scheduled_ms = np.full(devices, np.inf)
        if self.wide.enabled:
            self.next_relearn_ms = start_ms + self.wide.relearn_days * DAY_MS * rng.random(devices)
            self.next_scheduled_ms = np.where(
                self.wide.reboot_days > 0,
                start_ms + self.wide.reboot_days * DAY_MS * rng.random(devices),
                np.inf,
            )

    def _offline_windows(self, families: list[DeviceFamily], days: float) -> list[Window]:
        """Network gaps of the device families that go offline (gateways)."""
        rng = self.rng
        out = []
        for device, family in enumerate(families):
            for _ in range(rng.poisson(family.offline_per_year * days / 365)):
                begin = self.start_ms + int(rng.uniform(0, days) * DAY_MS)
                length = int(rng.uniform(0.1, 1.5) * DAY_MS)
                out.append(
                    Window(
                        NonFaultKind.OFFLINE,
                        begin,
                        begin + length,
                        device,
                        None,
                        f"offline.{family.name}",
                        (("offline", 1.0),),
                    )
                )
        return out

    # --- helpers

    def _window_mask(self, kind: NonFaultKind, t_ms: int) -> np.ndarray:
        mask = np.zeros(self.n, dtype=bool)
        for window in self.windows:
            if window.family == "classic" and window.kind is kind and window.covers(t_ms):
                if window.device is not None:
                    mask[window.device] = True
                else:
                    mask |= self.region == window.region
        return mask

    def _fault_channels(self, t_ms: int) -> tuple[Channels, list[tuple[Fault, float]]]:
        """Every fault's strength now, and the channels they drive (strength x effect)."""
        channels = Channels(self.n)
        active = []
        for fault in self.faults:
            strength = fault.strength(t_ms)
            active.append((fault, strength))
            if strength > 0:
                for name, value in fault.channels:
                    channels.add(name, fault.device, strength * value)
        return channels, active

    def _situation_channels(self, t_ms: int, events: list[tuple[int, Event]]) -> Channels:
        """The widened fleet's situations now; starting and ending ones act once."""
        channels = Channels(self.n)
        while self._waiting and self._waiting[0].start_ms <= t_ms:
            window = self._waiting.pop(0)
            self._live.append(window)
            self._begin(window, t_ms, events)
        for window in [w for w in self._live if w.end_ms <= t_ms]:
            self._live.remove(window)
            self._end(window, t_ms, events)
        for window in self._live:
            target = window.device if window.device is not None else self.region == window.region
            hours = (window.end_ms - window.start_ms) / 3_600_000
            for name, value in window.effects:
                if name == "burst_gb":
                    channels.add("write_bytes_h", target, value * GB / hours)
                elif name == "restore":
                    channels.add("write_bytes_h", target, self.restore_rate.get(id(window), 0.0))
                elif name != "delete":
                    channels.add(name, target, value)
        return channels

    def _begin(self, window: Window, t_ms: int, events: list[tuple[int, Event]]) -> None:
        effects = dict(window.effects)
        device = window.device
        if device is None:
            return
        if window.kind is NonFaultKind.OS_UPDATE:
            self.pending_reboots.append((device, t_ms + 3_600_000, "os_update"))
        elif window.kind is NonFaultKind.APP_UPDATE:
            app = int(self.rng.integers(len(APPS)))
            self.update_app[device] = app
            self.app_version[device, app] += 1
        elif window.kind is NonFaultKind.CLEANUP:
            freed = self.used[device] * effects["delete"]
            self.used[device] -= freed
            hours = (window.end_ms - window.start_ms) / 3_600_000
            self.restore_rate[id(window)] = freed * effects.get("restore", 0.0) / hours
        elif window.kind is NonFaultKind.RUN_FLAT:
            self.plugged[device] = False

    def _end(self, window: Window, t_ms: int, events: list[tuple[int, Event]]) -> None:
        effects = dict(window.effects)
        device = window.device
        if device is None:
            return
        if window.kind is NonFaultKind.OS_UPDATE:
            self.used[device] -= effects["burst_gb"] * GB * effects["release"]
        elif window.kind is NonFaultKind.APP_UPDATE:
            app = self.update_app.pop(device, 0)
            self.app_version[device, app] += 1
        elif window.kind is NonFaultKind.RUN_FLAT and self.flat_hold[device]:
            self.flat_hold[device] = False
            self.plugged[device] = True
            self._power_on(device, t_ms, "battery_empty", events)

    def _power_on(
        self, device: int, t_ms: int, reason: str | None, events: list[tuple[int, Event]]
    ) -> None:
        self.powered[device] = True
        detail = None if reason is None else {"reason": reason}
        events.append((device, Event(ts=t_ms, kind=EventKind.REBOOT, detail=detail)))
        self.next_relearn_ms[device] = t_ms

    # --- one step

    def step(self, t_ms: int, dt_s: float) -> Tick:  # noqa: PLR0912, PLR0915 - coupled physics, read as one
        rng, n, wide = self.rng, self.n, self.wide
        dt_h = dt_s / HOUR_S
        events: list[tuple[int, Event]] = []
        sit = self._situation_channels(t_ms, events) if wide.enabled else Channels(n)
        hour = ((t_ms / 1000 / HOUR_S) + self.tz_h + sit["tz_shift"]) % 24

        heavy = self._window_mask(NonFaultKind.HEAVY_USAGE, t_ms)
        hot = self._window_mask(NonFaultKind.HOT_WEEK, t_ms)
        ch, active = self._fault_channels(t_ms)
        fade = ch[FaultKind.BATTERY_FADE.value]
        swelling = ch[FaultKind.BATTERY_SWELLING.value]
        bad_cell = ch[FaultKind.BATTERY_BAD_CELL.value]
        cooling = ch[FaultKind.COOLING_FAILURE.value]
        charger = ch[FaultKind.FAULTY_CHARGER.value]
        runaway = ch[FaultKind.STORAGE_RUNAWAY.value]
        eol = ch[FaultKind.FLASH_EOL.value]

        if wide.enabled:
            self._power_cycle(t_ms, hour, events)
        on = self.powered

        # activity: quiet nights, busy evenings, the owner's own level, heavy-use weeks
        rhythm = 0.12 + 0.55 * (np.sin((hour - 9) / 24 * 2 * math.pi) + 1) / 2
        rhythm = np.where((hour >= 19) & (hour < 23), rhythm + 0.2, rhythm)
        rhythm = np.where(hour < 6.5, 0.05, rhythm)
        scale = np.where(heavy, 2.3, 1.0)
        if "activity" in sit:
            scale = scale * np.where(sit["activity"] > 0, sit["activity"], 1.0)
        activity = np.clip(rhythm * self.usage * scale + rng.normal(0, 0.05, n), 0.02, 1.0)
        if "gaming" in sit:
            evening = (hour >= 19.5) & (hour < 23)
            activity = np.where(evening & (sit["gaming"] > 0), np.maximum(activity, 0.97), activity)
        load = np.clip(activity * 85 + rng.normal(0, 4, n), 1, 100)
        if "update_load" in sit:
            load = np.clip(load + sit["update_load"], 1, 100)

        ambient = (
            self.ambient_base + 4 * np.sin((hour - 9) / 24 * 2 * math.pi) + np.where(hot, 11.0, 0.0)
        )
        if "ambient" in sit:
            ambient = ambient + sit["ambient"]

        # charging habit: overnight chargers plug in at their hour, everyone when low
        at_night = ((hour - self.charge_hour) % 24) < 7.5
        plug = (self.night_charger & at_night) | (self.charge < 12 + rng.uniform(0, 8, n))
        limit = wide.limit
        docked = np.zeros(n, dtype=bool)
        if wide.enabled:
            limit = np.where(sit["limit"] > 0, np.minimum(limit, sit["limit"]), limit)
            docked = self._docked(t_ms, hour) & on
            plug = (plug | docked) & (sit["no_charge"] == 0) & on
        stays = (self.charge < limit) | docked
        self.plugged = self.has_battery & np.where(self.plugged, stays, plug)
        if wide.enabled:
            self.plugged &= sit["no_charge"] == 0
        charging = self.plugged & (self.charge < limit)
        mains = (self.plugged | ~self.has_battery) if wide.enabled else np.zeros(n, dtype=bool)

        capacity = np.maximum(self.health, 0.3) * (1 - ch["capacity_drop"])
        drain = self.drain * (0.15 + activity) / capacity * dt_h
        gain = np.where(self.charge < 80, 48.0, 16.0) * dt_h * (1 - ch["charger_slow"])
        delta = np.where(charging, gain, -drain)
        if wide.enabled:
            delta = np.where(mains & ~charging, 0.0, delta)
            delta = np.where(on | charging, delta, -0.02 * dt_h)
        drops = (rng.random(n) < bad_cell * 0.12 * dt_h * 4 + ch["cell_drops"] * dt_h) & ~charging
        delta -= np.where(drops, rng.uniform(15, 40, n), 0.0)
        new_charge = np.clip(self.charge + delta, 0.0, 100.0)
        if wide.enabled:
            new_charge = np.where(charging, np.minimum(new_charge, limit), new_charge)
            dies = (rng.random(n) < ch["cell_shutdowns"] * dt_h * 4) & (new_charge < 35)
            new_charge = np.where(dies & ~charging & on, 0.0, new_charge)
        discharged = np.maximum(self.charge - new_charge, 0.0)
        self.charge = np.where(self.has_battery, new_charge, 0.0)
        self.cycles += discharged / 100
        if wide.enabled:
            self._shut_down_flat(t_ms, sit)

        battery_temp = (
            ambient
            + 7 * load / 100
            + np.where(charging, 5.0 + 13.0 * charger + ch["charger_heat"], 0.0)
            + 9 * swelling
            + ch["swell_temp"]
            + rng.normal(0, 0.6, n)
            + np.where(
                rng.random(n) < swelling * 0.2 + ch["swell_temp"] * 0.02,
                rng.uniform(2, 6, n),
                0.0,
            )
        )
        heat_factor = 2 ** ((battery_temp - 25) / 10)
        fade_now = (discharged / 100) * 0.00018 * heat_factor + dt_h / 24 * 0.00002 * heat_factor
        fade_now *= 1 + 14 * fade + ch["fade_rate"]
        self.health = np.clip(self.health - np.where(self.has_battery, fade_now, 0.0), 0.3, 1.0)
        resistance = 0.08 + 0.25 * (1 - self.health) + 0.15 * swelling + ch["swell_res"]
        if wide.enabled:
            resistance = resistance * (1 + 0.04 * np.maximum(0.0, 10 - battery_temp))

        cpu_temp = (
            ambient
            + self.heat * load / 100
            + cooling * (15 + 40 * load / 100)
            + rng.normal(0, 1.2, n)
        )
        throttled = cpu_temp > self.throttle_c
        if wide.enabled:
            cpu_temp = (
                cpu_temp
                + ch["cool_offset"]
                + (ch["cool_load"] + wide.mains_heat * mains) * load / 100
            )
            chance = wide.base_throttle * (load / 100) ** 3 * (1 + ch["throttle_mult"])
            throttled = (cpu_temp > self.throttle_c) | (rng.random(n) < chance)

        ocv = 3.45 + 0.0075 * self.charge + 0.06 * np.tanh((self.charge - 50) / 20)
        if wide.enabled:
            ocv = ocv - 0.25 * np.exp(-self.charge / 4)
        current = np.where(
            charging,
            np.where(self.charge < 80, 2.2, 0.8) * (1 - ch["charger_slow"]),
            -(0.3 * self.power + self.power * load / 100) / ocv,
        )
        if wide.enabled:
            current = np.where(mains & ~charging, 0.0, current)
        voltage = (
            ocv
            + current * resistance
            + (swelling * 0.04 + ch["swell_vnoise"]) * rng.normal(0, 1, n)
            + rng.normal(0, 0.004, n)
        )

        # storage: photos and caches fill it, clean-ups free it, runaway logs flood it
        per_hour = rng.exponential(15e6, n) * activity + 1e6 + runaway * 12 * GB / 24
        flood = ch["runaway_gb"] * GB / 24 + ch["runaway_frac"] * self.total / 24 * (0.5 + activity)
        per_hour = per_hour + flood + sit["write_bytes_h"]
        writes = per_hour * dt_h
        cleanup = rng.random(n) < dt_h / 24 / 25
        self.used = np.where(cleanup, self.used * rng.uniform(0.8, 0.95, n), self.used + writes)
        if wide.enabled:
            self.fault_bytes += flood * dt_h
            deletes = (rng.random(n) < dt_h / 24 / 4) & (ch["owner_deletes"] > 0)
            freed = np.where(deletes, self.fault_bytes * ch["owner_deletes"], 0.0)
            self.fault_bytes -= freed
            self.used = np.maximum(self.used - freed, self.total * 0.05)
        self.used = np.minimum(self.used, self.total * 0.995)
        endurance = self.total * 3000
        worn = writes * 3 / endurance * 100 + eol * 8.0 * dt_h / 24 + ch["wear_rate"] * dt_h / 24
        self.wear = np.minimum(self.wear + worn, 100.0)

        if wide.enabled:
            self._relearn(t_ms, self.health * (1 - ch["capacity_drop"]))
        gauges = _Gauges(cpu_temp, throttled, load, charging, voltage, current, battery_temp)
        readings = self._readings(gauges)
        reporting = None
        if wide.enabled:
            reporting = self.powered & (sit["offline"] == 0)
            for metric, values in readings.items():
                readings[metric] = np.where(reporting, values, np.nan)
        events += self._events(t_ms, dt_h, active, sit)
        return Tick(t_ms, self._samples(t_ms, readings, reporting), events, readings, reporting)

    def _docked(self, t_ms: int, hour: np.ndarray) -> np.ndarray:
        """Whether a docked laptop sits on mains now: weekday working hours, on a share
        of days that depends on the owner."""
        day = np.floor(t_ms / DAY_MS + self.tz_h / 24)
        weekday = (day + 3) % 7 < 5
        desk_day = ((day * 2_654_435_761 + np.arange(self.n) * 97) % 1000) / 1000
        return (
            (self.wide.charging == 2)
            & weekday
            & (hour >= 9)
            & (hour < 17)
            & (desk_day < self.wide.dock_share)
        )

    def _power_cycle(self, t_ms: int, hour: np.ndarray, events: list[tuple[int, Event]]) -> None:
        """Devices that are switched off at night, and those off until plugged in."""
        wide = self.wide
        sleeping = wide.off_nightly & asleep(hour, wide.sleep_hour, wide.wake_hour)
        charged = (self.charge > 1) | ~self.has_battery
        for device in np.flatnonzero(~sleeping & self.was_asleep & ~self.flat_hold & charged):
            self._power_on(int(device), t_ms, "user", events)
        self.powered &= ~(sleeping & ~self.was_asleep)
        self.was_asleep = sleeping
        waking = ~self.powered & ~sleeping & ~self.flat_hold & (self.off_until_ms <= t_ms)
        waking &= self.off_until_ms > 0
        for device in np.flatnonzero(waking):
            self.off_until_ms[device] = 0
            self.plugged[device] = True
            self._power_on(int(device), t_ms, None, events)

    def _shut_down_flat(self, t_ms: int, sit: Channels) -> None:
        """A battery device at 0% switches off: until its run-flat window ends, or until
        its owner plugs it in (10 minutes to 3 hours later)."""
        flat = self.has_battery & self.powered & (self.charge <= 0.0)
        if not flat.any():
            return
        held = flat & (sit["no_charge"] > 0)
        self.flat_hold |= held
        self.powered &= ~flat
        loose = flat & ~held
        self.off_until_ms = np.where(
            loose, t_ms + self.rng.uniform(600, 3 * 3600, self.n) * 1000, self.off_until_ms
        )

    def _relearn(self, t_ms: int, capacity: np.ndarray) -> None:
        """The fuel gauge re-learns the full capacity now and then, with an error of
        about `gauge_sd`: the reported capacity jumps a little each time."""
        due = (self.next_relearn_ms <= t_ms) & self.has_battery & self.powered
        if not due.any():
            return
        noise = self.rng.normal(0, 1, self.n) * self.wide.gauge_sd
        self.learned = np.where(due, capacity * (1 + noise), self.learned)
        self.next_relearn_ms = np.where(
            due,
            t_ms + self.wide.relearn_days * DAY_MS * self.rng.uniform(0.7, 1.3, self.n),
            self.next_relearn_ms,
        )

    def _readings(self, g: _Gauges) -> dict[str, np.ndarray]:
        """Each metric as the devices report it (rounded), one element per device; NaN
        where a device lacks the sensor."""
        wear = self.wear
        battery = np.where(self.has_battery, 1.0, np.nan)
        wide = self.wide
        if wide.enabled:
            pct = quantise(self.charge, wide.pct_step)
            battery_temp = quantise(g.battery_temp, wide.temp_step)
            cpu_temp = quantise(g.cpu_temp, wide.temp_step)
            full = np.round(self.design_wh * self.learned, 2)
        else:
            pct = np.round(self.charge, 1)
            battery_temp = np.round(g.battery_temp, 1)
            cpu_temp = np.round(g.cpu_temp, 1)
            full = np.round(self.design_wh * self.health, 2)
        return {
            "battery_pct": pct * battery,
            "battery_charging": g.charging * battery,
            "battery_voltage_v": np.round(g.voltage, 3) * battery,
            "battery_current_a": np.round(g.current, 3) * battery,
            "battery_temp_c": battery_temp * battery,
            "battery_full_wh": full * battery,
            "battery_design_wh": self.design_wh * battery,
            "battery_cycles": np.floor(self.cycles) * battery,
            "cpu_temp_c": cpu_temp,
            "thermal_throttled": g.throttled.astype(np.float64),
            "cpu_load_pct": np.round(g.load, 1),
            "storage_total_bytes": np.floor(self.total),
            "storage_free_bytes": np.floor(self.total - self.used),
            "flash_wear_pct": np.minimum(100.0, np.ceil(wear / 10) * 10),
            "flash_pre_eol": np.select([wear >= 90, wear >= 80], [3.0, 2.0], 1.0),
        }

    def _samples(
        self, t_ms: int, r: dict[str, np.ndarray], reporting: np.ndarray | None
    ) -> list[Sample | None]:
        """One Sample per device from the readings; columns are converted to Python
        values with numpy in one go, which keeps this loop cheap."""
        common = zip(
            np.nan_to_num(r["cpu_temp_c"]).tolist(),
            _flags(np.nan_to_num(r["thermal_throttled"])),
            np.nan_to_num(r["cpu_load_pct"]).tolist(),
            np.nan_to_num(r["storage_total_bytes"]).astype(np.int64).tolist(),
            np.nan_to_num(r["storage_free_bytes"]).astype(np.int64).tolist(),
            np.nan_to_num(r["flash_wear_pct"]).tolist(),
            np.nan_to_num(r["flash_pre_eol"]).astype(np.int64).tolist(),
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
        sending = [True] * self.n if reporting is None else reporting.tolist()
        samples: list[Sample | None] = []
        for sends, has_battery, (cpu, thr, load, total, free, flash, eol), bat in zip(
            sending, self.has_battery.tolist(), common, battery, strict=True
        ):
            if not sends:
                samples.append(None)
            elif has_battery:
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

    def _events(
        self, t_ms: int, dt_h: float, active: list[tuple[Fault, float]], sit: Channels
    ) -> list[tuple[int, Event]]:
        rng = self.rng
        events: list[tuple[int, Event]] = []
        due = [r for r in self.pending_reboots if r[1] <= t_ms]
        self.pending_reboots = [r for r in self.pending_reboots if r[1] > t_ms]
        for device, at, reason in due:
            detail = None if reason is None else {"reason": reason}
            events.append((device, Event(ts=at, kind=EventKind.REBOOT, detail=detail)))
        crashes = rng.poisson(BASE_CRASHES_PER_APP_DAY * len(APPS) * dt_h / 24, self.n)
        for device in np.flatnonzero(crashes):
            for _ in range(int(crashes[device])):
                app = int(rng.integers(len(APPS)))
                events.append(
                    (int(device), self._app_crash(device, app, t_ms, variant=int(rng.integers(5))))
                )
        for fault, strength in active:
            if strength <= 0:
                continue
            for channel, value in fault.channels:
                events += self._fault_events(fault, channel, strength * value, t_ms, dt_h)
        if self.wide.enabled:
            events += self._situation_events(t_ms, dt_h, sit)
            on = self.powered
            events = [(d, e) for d, e in events if on[d] or e.kind is EventKind.REBOOT]
        return events

    def _fault_events(
        self, fault: Fault, channel: str, level: float, t_ms: int, dt_h: float
    ) -> list[tuple[int, Event]]:
        """The events a fault's channel causes in one step, at `level` (strength x effect)."""
        rng, device = self.rng, fault.device
        out: list[tuple[int, Event]] = []
        if channel in (FaultKind.CRASH_LOOP.value, "crash_rate"):
            rate = level * 10 if channel == FaultKind.CRASH_LOOP.value else level
            for _ in range(rng.poisson(rate * dt_h)):
                out.append(
                    (device, self._app_crash(device, self.crash_app[device], t_ms, variant=99))
                )
        elif channel in (FaultKind.KERNEL_FAULT.value, "panic_rate"):
            rate = level * 5 if channel == FaultKind.KERNEL_FAULT.value else level
            for _ in range(rng.poisson(rate * dt_h / 24)):
                at = t_ms - int(rng.uniform(0, dt_h * HOUR_S * 1000))
                out.append(
                    (
                        device,
                        Event(
                            ts=at,
                            kind=EventKind.KERNEL_PANIC,
                            process="kernel",
                            signature=KERNEL_PANIC_SIGNATURE,
                        ),
                    )
                )
                reason = None if channel == FaultKind.KERNEL_FAULT.value else "kernel_panic"
                self.pending_reboots.append((device, at + int(rng.uniform(30, 90) * 1000), reason))
        elif channel == "watchdog_rate":
            for _ in range(rng.poisson(level * dt_h / 24)):
                at = t_ms - int(rng.uniform(0, dt_h * HOUR_S * 1000))
                detail = {"reason": "watchdog"} if rng.random() < 0.5 else None
                out.append((device, Event(ts=at, kind=EventKind.REBOOT, detail=detail)))
        elif channel in ("oops_rate", "io_errors"):
            signature = KERNEL_OOPS_SIGNATURE if channel == "oops_rate" else IO_ERROR_SIGNATURE
            for _ in range(rng.poisson(level * dt_h / 24)):
                at = t_ms - int(rng.uniform(0, dt_h * HOUR_S * 1000))
                out.append(
                    (
                        device,
                        Event(
                            ts=at, kind=EventKind.KERNEL_OOPS, process="kernel", signature=signature
                        ),
                    )
                )
        return out

    def _situation_events(self, t_ms: int, dt_h: float, sit: Channels) -> list[tuple[int, Event]]:
        """Crashes after an app update, and scheduled reboots."""
        rng = self.rng
        out: list[tuple[int, Event]] = []
        if "update_crashes" in sit:
            rate = sit["update_crashes"]
            for device in np.flatnonzero(rate > 0):
                app = self.update_app.get(int(device), 0)
                for _ in range(rng.poisson(rate[device] * dt_h)):
                    variant = int(rng.integers(3)) + 10
                    out.append((int(device), self._app_crash(device, app, t_ms, variant=variant)))
        due = self.next_scheduled_ms <= t_ms
        for device in np.flatnonzero(due & self.powered):
            detail = {"reason": "scheduled"}
            out.append((int(device), Event(ts=t_ms, kind=EventKind.REBOOT, detail=detail)))
        self.next_scheduled_ms = np.where(
            due, t_ms + self.wide.reboot_days * DAY_MS, self.next_scheduled_ms
        )
        return out

    def _app_crash(self, device: int, app: int, t_ms: int, *, variant: int) -> Event:
        name = APPS[app]
        version = f"{int(self.app_version[device, app])}.{variant % 3}"
        if variant == 99:
            version = f"{int(self.app_version[device, app]) + 1}.0"
            signature = f"SIGSEGV lib{name}.so!{name.capitalize()}Session::restore loop"
        elif variant >= 10:
            version = f"{int(self.app_version[device, app])}.0"
            signature = f"SIGABRT lib{name}.so!{name}_update{variant - 10}"
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
        """Ground truth for evaluation: every fault and non-fault of the run, with the
        family it was drawn from."""
        return {
            "split": None if self.split is None else self.split.name.value,
            "devices": [
                {
                    "device_id": d,
                    "model": m.name,
                    "os_version": v,
                    "region": int(r),
                    "device_class": c.value,
                    "family": f,
                }
                for d, m, v, r, c, f in zip(
                    self.ids,
                    self.models,
                    self.os_versions,
                    self.region,
                    self.wide.classes,
                    self.wide.family,
                    strict=True,
                )
            ],
            "faults": [
                {
                    "device_id": self.ids[f.device],
                    "kind": f.kind.value,
                    "family": f.family,
                    "curve": f.curve.value,
                    "effects": dict(f.effects),
                    "onset_ms": f.onset_ms,
                    "full_ms": f.full_ms,
                    "visible_ms": f.visible_ms,
                }
                for f in self.faults
            ],
            "non_faults": [
                {
                    "kind": w.kind.value,
                    "family": w.family,
                    "effects": dict(w.effects),
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
