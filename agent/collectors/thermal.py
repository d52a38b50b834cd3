"""Thermal: every thermal zone's temperature and type, throttling, and CPU load.

Zones are /sys/class/thermal/thermal_zone*/{type,temp} (temp in m°C). Throttling is a
cooling device of a CPU/GPU-frequency kind (not a fan) at a state above 0. CPU load
comes from the difference of /proc/stat between two ticks, since the heat of a device
only means something next to how hard it works.
"""

from __future__ import annotations

from pathlib import Path

from agent.collectors.base import Collector, CollectorContext, Reading, read_int, read_text
from devicecare.contracts import CollectorName, SampleDetail, ThermalZone

THROTTLING_KINDS = ("processor", "cpufreq", "cpu", "gpu", "devfreq", "powerclamp")
PLAUSIBLE_C = (-40.0, 150.0)
MAX_ZONES = 64


class ThermalCollector(Collector):
    name = CollectorName.THERMAL

    def __init__(self, ctx: CollectorContext) -> None:
        super().__init__(ctx)
        self._last_cpu: tuple[int, int] | None = None

    def collect(self, now_ms: int) -> Reading:
        reading = Reading()
        zones = _zones(self.ctx.root / "sys/class/thermal")
        if zones:
            reading.values["cpu_temp_c"] = max(z.temp_c for z in zones)
            reading.values["detail"] = SampleDetail(zones=zones)
        else:
            reading.unavailable.add("cpu_temp_c")
        throttled = _throttled(self.ctx.root / "sys/class/thermal")
        if throttled is None:
            reading.unavailable.add("thermal_throttled")
        else:
            reading.values["thermal_throttled"] = throttled
        load = self._cpu_load()
        if load is not None:
            reading.values["cpu_load_pct"] = load
        elif self._last_cpu is None:
            reading.unavailable.add("cpu_load_pct")
        return reading

    def _cpu_load(self) -> float | None:
        line = (read_text(self.ctx.path("/proc/stat")) or "").split("\n", 1)[0].split()
        if len(line) < 5 or line[0] != "cpu":  # noqa: PLR2004 - cpu user nice system idle
            return None
        ticks = [int(x) for x in line[1:]]
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # noqa: PLR2004 - idle + iowait
        total = sum(ticks)
        previous, self._last_cpu = self._last_cpu, (total, idle)
        if previous is None or total <= previous[0]:
            return None
        busy = 1 - (idle - previous[1]) / (total - previous[0])
        return round(min(max(busy * 100, 0.0), 100.0), 1)


def _zones(base: Path) -> list[ThermalZone]:
    if not base.is_dir():
        return []
    zones = []
    for zone in sorted(base.glob("thermal_zone*"))[:MAX_ZONES]:
        milli = read_int(zone / "temp")
        if milli is None:
            continue
        temp = milli / 1000
        if not PLAUSIBLE_C[0] < temp < PLAUSIBLE_C[1]:
            continue
        kind = read_text(zone / "type")
        zones.append(ThermalZone(name=zone.name, temp_c=temp, type=(kind or None) and kind[:128]))
    return zones


def _throttled(base: Path) -> bool | None:
    found = False
    for device in sorted(base.glob("cooling_device*")):
        kind = (read_text(device / "type") or "").lower()
        if not any(k in kind for k in THROTTLING_KINDS):
            continue
        state = read_int(device / "cur_state")
        if state is None:
            continue
        found = True
        if state > 0:
            return True
    return False if found else None
