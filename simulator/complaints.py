"""Owners who call: the complaints of a simulated run, with the true answer.

Owners of faulty devices call at the fault's user-visible time, about what they notice
(a fading battery: "battery"; a failing fan: "heat"). Owners of healthy devices call too:
during a heavy-usage week the battery drains ("battery"; "heat" for devices without
one), in a heat wave some phones of
the region feel hot ("heat"). A crash loop after an app update and a runaway app filling
the storage feel like faults but are software: the fix is an update or a clean-up, not a
repair. The truth says which complaints a repair bench would find a fault for.

This module only reads a `Fleet`'s schedule (faults and windows); it draws its own random
numbers from its own seed, so the fleet's series do not change with the complaints.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum

import numpy as np

from devicecare.contracts.vocabulary import FaultKind
from simulator.faults import DAY_MS, NonFaultKind
from simulator.fleet import Fleet

HEAT_COMPLAINT_SHARE = 0.15
"""Share of a heat-wave region's devices whose owners call about heat."""
MIN_HISTORY_DAYS = 9.0
"""Complaints before this much telemetry are left out: no baseline to compare with."""


class Cause(StrEnum):
    """What really lies behind a complaint."""

    HARDWARE = "hardware"
    USAGE = "usage"
    SOFTWARE = "software"


FAULT_COMPLAINTS: dict[FaultKind, tuple[str, Cause]] = {
    FaultKind.BATTERY_FADE: ("battery", Cause.HARDWARE),
    FaultKind.BATTERY_SWELLING: ("battery", Cause.HARDWARE),
    FaultKind.BATTERY_BAD_CELL: ("battery", Cause.HARDWARE),
    FaultKind.COOLING_FAILURE: ("heat", Cause.HARDWARE),
    FaultKind.FAULTY_CHARGER: ("heat", Cause.HARDWARE),
    FaultKind.KERNEL_FAULT: ("crashes", Cause.HARDWARE),
    FaultKind.FLASH_EOL: ("storage", Cause.HARDWARE),
    FaultKind.CRASH_LOOP: ("crashes", Cause.SOFTWARE),
    FaultKind.STORAGE_RUNAWAY: ("storage", Cause.SOFTWARE),
}
"""What the owner of a device with each fault complains about, and what it really is."""


@dataclass(frozen=True, slots=True)
class OwnerComplaint:
    device_id: str
    at_ms: int
    complaint: str
    cause: Cause
    source: str
    """The fault kind or non-fault window behind the complaint."""

    def as_json(self) -> dict[str, object]:
        return asdict(self)


def complaints(fleet: Fleet, *, end_ms: int, seed: int = 0) -> list[OwnerComplaint]:
    """Every complaint of the run that falls within it, in time order."""
    rng = np.random.default_rng(seed)
    earliest = fleet.start_ms + int(MIN_HISTORY_DAYS * DAY_MS)
    out: list[OwnerComplaint] = []
    for fault in fleet.faults:
        complaint, cause = FAULT_COMPLAINTS[fault.kind]
        if earliest <= fault.visible_ms < end_ms:
            out.append(
                OwnerComplaint(
                    fleet.ids[fault.device], fault.visible_ms, complaint, cause, fault.kind.value
                )
            )

    def healthy(device: int, at_ms: int) -> bool:
        fault = fleet.fault_of.get(device)
        return fault is None or fault.onset_ms > at_ms

    for window in fleet.windows:
        length = window.end_ms - window.start_ms
        if window.kind is NonFaultKind.HEAVY_USAGE and window.device is not None:
            at = window.start_ms + int(length * rng.uniform(0.6, 0.95))
            about = "battery" if fleet.has_battery[window.device] else "heat"
            if earliest <= at < end_ms and healthy(window.device, at):
                out.append(
                    OwnerComplaint(
                        fleet.ids[window.device], at, about, Cause.USAGE, window.kind.value
                    )
                )
        elif window.kind is NonFaultKind.HOT_WEEK and window.region is not None:
            for device in np.flatnonzero(fleet.region == window.region):
                at = window.start_ms + int(length * rng.uniform(0.4, 0.95))
                if (
                    rng.random() < HEAT_COMPLAINT_SHARE
                    and earliest <= at < end_ms
                    and healthy(int(device), at)
                ):
                    out.append(
                        OwnerComplaint(
                            fleet.ids[int(device)], at, "heat", Cause.USAGE, window.kind.value
                        )
                    )
    out.sort(key=lambda c: (c.at_ms, c.device_id))
    return out
