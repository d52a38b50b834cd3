"""Fault rules, one module per physical domain; each rule is a `detectors.base.Rule`.

`REGISTRY` maps a rule's name to its class; a profile (`detectors.live.device.DeviceProfile`) says
which rules run and with which parameters. Adding a rule is a module here plus one line
below.
"""

from __future__ import annotations

from detectors.base import Rule
from detectors.live.rules.battery import BatteryResistance, CapacityFade, ChargeDrops
from detectors.live.rules.crashes import CrashLoop, KernelFaults
from detectors.live.rules.storage import FlashWear, StorageFill
from detectors.live.rules.thermal import CpuLoad, ThermalPaths

REGISTRY: dict[str, type[Rule]] = {
    cls.name: cls
    for cls in (
        CapacityFade,
        ChargeDrops,
        BatteryResistance,
        ThermalPaths,
        CpuLoad,
        CrashLoop,
        KernelFaults,
        StorageFill,
        FlashWear,
    )
}
