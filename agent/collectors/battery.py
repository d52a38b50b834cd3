"""Battery: charge, charging state, voltage, current, temperature, capacity, cycles.

Linux and Android expose the battery under /sys/class/power_supply/<name>/ with
`type` = Battery; values are in micro-units (µV, µA, µWh, µAh) and tenths of a degree.
Where no such battery exists and the root is the real machine, psutil's portable
reading (charge and plugged state only) is used.
"""

from __future__ import annotations

from pathlib import Path

import psutil

from agent.collectors.base import Collector, Reading, read_int, read_text
from devicecare.contracts import COLLECTOR_METRICS, CollectorName

NOMINAL_CELL_V = 3.85
"""Converts charge (µAh) to energy when the battery gives no design voltage."""

METRICS = COLLECTOR_METRICS[CollectorName.BATTERY]


def _battery_dirs(root: Path) -> list[Path]:
    base = root / "sys/class/power_supply"
    if not base.is_dir():
        return []
    return [
        d
        for d in sorted(base.iterdir())
        if read_text(d / "type") == "Battery" and read_text(d / "present") != "0"
    ]


class BatteryCollector(Collector):
    name = CollectorName.BATTERY

    def collect(self, now_ms: int) -> Reading:
        batteries = _battery_dirs(self.ctx.root)
        if batteries:
            values = _from_sysfs(batteries[0])
        elif self.ctx.root == Path("/"):
            values = _from_psutil()
        else:
            values = {}
        return Reading(values=values, unavailable={m for m in METRICS if m not in values})


def _micro(path: Path) -> float | None:
    value = read_int(path)
    return None if value is None else value / 1e6


def _from_sysfs(bat: Path) -> dict[str, object]:
    values: dict[str, object] = {}
    if (pct := read_int(bat / "capacity")) is not None:
        values["battery_pct"] = float(pct)
    status = read_text(bat / "status")
    if status is not None:
        values["battery_charging"] = status == "Charging"
    voltage = _micro(bat / "voltage_now")
    if voltage is not None:
        values["battery_voltage_v"] = voltage
    current = _micro(bat / "current_now")
    if current is None and (power := _micro(bat / "power_now")) is not None and voltage:
        current = power / voltage
    if current is not None:
        # Drivers disagree on the sign; the status line does not.
        magnitude = abs(current)
        values["battery_current_a"] = -magnitude if status == "Discharging" else magnitude
    if (temp := read_int(bat / "temp")) is not None:
        values["battery_temp_c"] = temp / 10
    full, design = _capacities_wh(bat)
    if full is not None:
        values["battery_full_wh"] = full
    if design is not None:
        values["battery_design_wh"] = design
    if (cycles := read_int(bat / "cycle_count")) is not None:
        values["battery_cycles"] = cycles
    return values


def _capacities_wh(bat: Path) -> tuple[float | None, float | None]:
    full = _micro(bat / "energy_full")
    design = _micro(bat / "energy_full_design")
    if full is not None or design is not None:
        return full, design
    volts = _micro(bat / "voltage_min_design") or NOMINAL_CELL_V
    charge_full = _micro(bat / "charge_full")
    charge_design = _micro(bat / "charge_full_design")
    return (
        None if charge_full is None else charge_full * volts,
        None if charge_design is None else charge_design * volts,
    )


def _from_psutil() -> dict[str, object]:
    battery = psutil.sensors_battery()
    if battery is None:
        return {}
    return {
        "battery_pct": float(battery.percent),
        "battery_charging": bool(battery.power_plugged) and battery.percent < 100,  # noqa: PLR2004
    }
