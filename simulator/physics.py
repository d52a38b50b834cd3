"""Per-device physics of the widened simulator, and the channels faults and situations
drive.

`Wide` holds what a device family sets for each device (power, charge limit, fuel
gauge, quantisation, night-time shutdown, ...). `Wide.neutral` is the default fleet's:
every array is chosen so that the step formulas reduce to the default fleet's own, and
nothing in it draws random numbers, so a fleet without a split stays as it was.

`Channels` are per-step arrays, one element per device, that faults (strength x
effect) and situations add to: `fade_rate`, `cool_offset`, `burst_bytes_h`, ... An
absent channel reads as zeros.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from devicecare.contracts import DeviceClass
from simulator.families import DeviceFamily, DeviceModel

CHARGING_CODES = {"nightly": 0, "when_low": 1, "docked": 2, "mains": 3}


class Channels:
    """Named per-device arrays that start at zero; an absent one reads as zeros."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.values: dict[str, np.ndarray] = {}

    def add(self, name: str, device: int | np.ndarray, value: float) -> None:
        if name not in self.values:
            self.values[name] = np.zeros(self.n)
        self.values[name][device] += value

    def __getitem__(self, name: str) -> np.ndarray:
        values = self.values.get(name)
        return np.zeros(self.n) if values is None else values

    def __contains__(self, name: str) -> bool:
        return name in self.values


@dataclass
class Wide:
    """Per-device physics beyond the default fleet, one element per device."""

    family: list[str]
    classes: list[DeviceClass]
    charging: np.ndarray
    """CHARGING_CODES per device."""
    limit: np.ndarray
    """Charging stops at this percent (99.5: no limit)."""
    dock_share: np.ndarray
    off_nightly: np.ndarray
    sleep_hour: np.ndarray
    wake_hour: np.ndarray
    mains_heat: np.ndarray
    gauge_sd: np.ndarray
    relearn_days: np.ndarray
    pct_step: np.ndarray
    temp_step: np.ndarray
    base_throttle: np.ndarray
    reboot_days: np.ndarray
    enabled: bool

    @classmethod
    def neutral(cls, models: Sequence[DeviceModel | object]) -> Wide:
        """The default fleet: no limits, no docking, exact gauges, no shutdowns."""
        n = len(models)
        return cls(
            family=["classic"] * n,
            classes=[class_of(getattr(m, "name", "")) for m in models],
            charging=np.zeros(n, dtype=np.int64),
            limit=np.full(n, 99.5),
            dock_share=np.zeros(n),
            off_nightly=np.zeros(n, dtype=bool),
            sleep_hour=np.zeros(n),
            wake_hour=np.zeros(n),
            mains_heat=np.zeros(n),
            gauge_sd=np.zeros(n),
            relearn_days=np.full(n, np.inf),
            pct_step=np.full(n, 0.1),
            temp_step=np.full(n, 0.1),
            base_throttle=np.zeros(n),
            reboot_days=np.zeros(n),
            enabled=False,
        )

    @classmethod
    def draw(
        cls,
        rng: np.random.Generator,
        families: Sequence[DeviceFamily],
        models: Sequence[DeviceModel],
    ) -> Wide:
        """Per-device physics for devices of the given families and models."""
        n = len(families)
        return cls(
            family=[f.name for f in families],
            classes=[m.device_class for m in models],
            charging=np.array([CHARGING_CODES[f.charging] for f in families], dtype=np.int64),
            limit=np.where(rng.random(n) < np.array([f.limit_share for f in families]), 80.0, 99.5),
            dock_share=np.array([f.dock_share for f in families]) * rng.uniform(0.7, 1.0, n),
            off_nightly=rng.random(n) < np.array([f.off_nightly for f in families]),
            sleep_hour=rng.uniform(22.0, 24.5, n) % 24,
            wake_hour=rng.uniform(6.5, 8.5, n),
            mains_heat=np.array([f.mains_heat_c for f in families]),
            gauge_sd=np.array([f.gauge_sd for f in families]),
            relearn_days=np.array([rng.uniform(*f.relearn_days) for f in families]),
            pct_step=np.array([f.pct_step for f in families]),
            temp_step=np.array([f.temp_step for f in families]),
            base_throttle=np.array([rng.uniform(*f.base_throttle) for f in families]),
            reboot_days=np.array([f.scheduled_reboot_days for f in families]),
            enabled=True,
        )


def class_of(model: str) -> DeviceClass:
    """The default fleet's models by name (its catalogue predates device classes)."""
    name = model.lower()
    if "tab" in name:
        return DeviceClass.TABLET
    if "thinkpad" in name:
        return DeviceClass.LAPTOP
    if "gateway" in name:
        return DeviceClass.GATEWAY
    return DeviceClass.PHONE


def quantise(values: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Round each device's reading to its sensor's step (0.1, 0.5, 1, ...)."""
    return np.round(values / step) * step


def asleep(hour: np.ndarray, sleep: np.ndarray, wake: np.ndarray) -> np.ndarray:
    """Whether the local hour lies in [sleep, wake), across midnight."""
    return ((hour - sleep) % 24) < ((wake - sleep) % 24)
