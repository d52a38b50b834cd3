"""The widened simulator's catalogue: device families, fault shape families, situations.

Every fault kind comes in several *shape families*: an onset curve (step, linear,
accelerating, intermittent, with recovery) and a signature (which quantities change and
by how much), each parameter drawn per fault from a range. Every device class (phone,
tablet, laptop, gateway) comes in several *device families* with their own physics:
power (battery, mains while docked, mains always), charge limits, fuel-gauge
recalibration noise, quantisation, gaps while off or offline. *Situations* are the
non-faults: updates, travel, idle weeks, devices run flat, clean-ups, heavy use.

A `Split` divides all three into `tuning` and `held_out`: rules are tuned on the first
and scored on the second, with seeds of their own, so that a score on `held_out`
measures how the detectors generalise rather than how well they fit. The families that
issue 12 describes in words are in `tuning` (they are known); `held_out` has variants of
every fault kind, device class and situation that tuning never sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from devicecare.contracts import DeviceClass
from devicecare.contracts.vocabulary import FaultKind


class Curve(StrEnum):
    """How a fault's strength grows from onset (0) to full (1)."""

    SMOOTH = "smooth"
    """Smoothstep: the default fleet's only curve."""
    STEP = "step"
    LINEAR = "linear"
    ACCELERATING = "accelerating"
    """Cubic: hardly anything for a long while, then fast."""
    INTERMITTENT = "intermittent"
    """Linear, but only in on-episodes of a few hours; off in between."""
    RECOVERING = "recovering"
    """Rises, falls back to a fraction for some days (the owner thinks it is fixed), returns."""


class SplitName(StrEnum):
    TUNING = "tuning"
    HELD_OUT = "held_out"


Range = tuple[float, float]


@dataclass(frozen=True)
class FaultFamily:
    """One way a fault kind unfolds. `effects` maps a physics channel (see `fleet.py`)
    to the range its full-strength value is drawn from."""

    name: str
    kind: FaultKind
    split: SplitName
    curves: tuple[Curve, ...]
    ramp_days: Range
    visible_days: Range
    effects: dict[str, Range]
    description: str
    needs_battery: bool = False


@dataclass(frozen=True)
class SituationFamily:
    """A non-fault: something that looks like a fault to a naive rule but needs no repair.

    `rate` is per device-year (or per region-year when `regional`); `effects` map
    situation channels to ranges drawn per window."""

    name: str
    kind: str
    split: SplitName
    rate: float
    days: Range
    effects: dict[str, Range]
    description: str
    regional: bool = False
    needs_battery: bool = False


@dataclass(frozen=True)
class DeviceModel:
    """A model's normal ranges (`fleet.Model` fields) plus its class."""

    name: str
    os_name: str
    os_versions: tuple[str, ...]
    battery_wh: float | None
    storage_gb: int
    throttle_c: float
    drain_pct_h: float
    power_w: float
    heat_c: float
    device_class: DeviceClass


@dataclass(frozen=True)
class DeviceFamily:
    """A device class's physics as one population of devices.

    charging: `nightly` (overnight or when low), `when_low`, `docked` (on mains while in
    use on weekdays), `mains` (no battery, always powered)."""

    name: str
    split: SplitName
    models: tuple[DeviceModel, ...]
    share: float
    charging: str
    description: str
    usage: float = 1.0
    limit_share: float = 0.0
    """Share of devices that stop charging at 80% (a battery-care setting)."""
    gauge_sd: float = 0.01
    """Relative noise of the fuel gauge's learned capacity at each re-learn."""
    relearn_days: Range = (5.0, 12.0)
    pct_step: float = 1.0
    temp_step: float = 0.1
    off_nightly: float = 0.0
    """Share of devices switched off at night (no samples, a boot in the morning)."""
    mains_heat_c: float = 0.0
    """Extra CPU °C at full load while on mains (a faster power profile)."""
    offline_per_year: float = 0.0
    scheduled_reboot_days: float = 0.0
    """A reboot with reason `scheduled` every this many days (0: never)."""
    base_throttle: Range = (0.01, 0.06)
    """Chance per step at full load that the firmware throttles anyway."""
    dock_share: float = 0.0
    """Share of weekday working hours a `docked` device spends on mains."""
    ambient_c: float = 0.0
    """Where the devices stand, against their region's ambient (a warm cabinet: +12)."""


PHONE, TABLET, LAPTOP, GATEWAY = (
    DeviceClass.PHONE,
    DeviceClass.TABLET,
    DeviceClass.LAPTOP,
    DeviceClass.GATEWAY,
)
T, H = SplitName.TUNING, SplitName.HELD_OUT

DEVICE_FAMILIES: tuple[DeviceFamily, ...] = (
    DeviceFamily(
        "phone.nightly",
        T,
        (
            DeviceModel("Pixel 8", "Android", ("14", "15"), 17.0, 128, 82, 11.0, 4.0, 40, PHONE),
            DeviceModel("Galaxy S23", "Android", ("13", "14"), 15.0, 256, 80, 12.0, 4.5, 42, PHONE),
        ),
        0.30,
        "nightly",
        "phones charged overnight or when low; 20% limit charging to 80%",
        limit_share=0.2,
    ),
    DeviceFamily(
        "phone.hot_model",
        T,
        (DeviceModel("Nord Flux", "Android", ("14",), 19.0, 256, 76, 13.0, 5.5, 50, PHONE),),
        0.10,
        "when_low",
        "a model that runs 8-10 °C hotter and drains faster than the others; charged when low",
        gauge_sd=0.012,
    ),
    DeviceFamily(
        "tablet.home",
        T,
        (
            DeviceModel(
                "Galaxy Tab S8", "Android", ("13", "14"), 31.0, 128, 78, 8.0, 6.0, 34, TABLET
            ),
        ),
        0.12,
        "when_low",
        "tablets used lightly at home, charged every few days when low",
        usage=0.6,
    ),
    DeviceFamily(
        "laptop.docked",
        T,
        (
            DeviceModel(
                "ThinkPad X1 Carbon",
                "Ubuntu",
                ("22.04", "24.04"),
                57.0,
                512,
                90,
                14.0,
                12.0,
                48,
                LAPTOP,
            ),
        ),
        0.14,
        "docked",
        "laptops on mains at the desk on weekdays (faster power profile: +8 °C at full"
        " load), on battery otherwise, off at night for 60%; half limit charging to 80%",
        limit_share=0.5,
        off_nightly=0.6,
        mains_heat_c=8.0,
        temp_step=1.0,
        dock_share=0.9,
    ),
    DeviceFamily(
        "gateway.mains",
        T,
        (
            DeviceModel(
                "Gateway Pi 4", "Debian GNU/Linux", ("12",), None, 32, 80, 0.0, 3.0, 30, GATEWAY
            ),
        ),
        0.10,
        "mains",
        "gateways always on mains, without battery; offline now and then; weekly reboot",
        offline_per_year=6.0,
        scheduled_reboot_days=7.0,
    ),
    DeviceFamily(
        "phone.limited",
        H,
        (
            DeviceModel("Moto Edge 50", "Android", ("14",), 18.0, 256, 84, 10.0, 4.2, 44, PHONE),
            DeviceModel("Xperia 5 V", "Android", ("13", "14"), 19.0, 128, 79, 11.5, 4.0, 39, PHONE),
        ),
        0.30,
        "nightly",
        "phones of unseen models; 60% limit charging to 80%; integer percent, 1 °C steps",
        limit_share=0.6,
        gauge_sd=0.015,
        relearn_days=(3.0, 9.0),
        temp_step=1.0,
    ),
    DeviceFamily(
        "phone.new_model",
        H,
        (DeviceModel("Pixel 10", "Android", ("16",), 18.5, 256, 86, 9.0, 3.6, 52, PHONE),),
        0.10,
        "when_low",
        "a new model with other normal ranges (+10 °C at load, slower drain)",
    ),
    DeviceFamily(
        "tablet.kiosk",
        H,
        (DeviceModel("Lenovo Tab P12", "Android", ("13",), 38.0, 128, 76, 7.0, 7.0, 36, TABLET),),
        0.12,
        "nightly",
        "tablets used for hours a day (shop kiosks, homework), charged overnight",
        usage=1.3,
        limit_share=0.3,
    ),
    DeviceFamily(
        "laptop.mobile",
        H,
        (DeviceModel("Latitude 7440", "Windows", ("11",), 54.0, 512, 95, 12.0, 15.0, 55, LAPTOP),),
        0.14,
        "docked",
        "laptops of another make, on mains about half the working day (+12 °C at full load),"
        " off at night for 80%",
        limit_share=0.3,
        off_nightly=0.8,
        mains_heat_c=12.0,
        gauge_sd=0.02,
        relearn_days=(2.0, 6.0),
        dock_share=0.5,
    ),
    DeviceFamily(
        "gateway.edge",
        H,
        (
            DeviceModel(
                "Edge Router R2",
                "OpenWrt",
                ("23.05",),
                None,
                16,
                95,
                0.0,
                5.0,
                28,
                GATEWAY,
            ),
        ),
        0.10,
        "mains",
        "routers in warm cabinets (ambient +12 °C), offline more often, reboot daily",
        offline_per_year=15.0,
        scheduled_reboot_days=1.0,
        temp_step=1.0,
        ambient_c=12.0,
    ),
)

FAULT_FAMILIES: tuple[FaultFamily, ...] = (
    # --- battery_fade
    FaultFamily(
        "fade.steady",
        FaultKind.BATTERY_FADE,
        T,
        (Curve.LINEAR, Curve.SMOOTH),
        (15, 35),
        (18, 35),
        {"fade_rate": (8, 25)},
        "capacity wears 8-25 times faster than normal",
        needs_battery=True,
    ),
    FaultFamily(
        "fade.knee",
        FaultKind.BATTERY_FADE,
        H,
        (Curve.ACCELERATING, Curve.STEP),
        (10, 30),
        (14, 30),
        {"fade_rate": (10, 30), "capacity_drop": (0.03, 0.08)},
        "a knee: capacity loses 3-8% at once and then wears fast",
        needs_battery=True,
    ),
    # --- battery_swelling
    FaultFamily(
        "swelling.warm",
        FaultKind.BATTERY_SWELLING,
        T,
        (Curve.SMOOTH, Curve.LINEAR),
        (6, 14),
        (8, 16),
        {"swell_temp": (4, 9), "swell_vnoise": (0.02, 0.05), "swell_res": (0.08, 0.2)},
        "battery 4-9 °C warmer, voltage unsteady, internal resistance up",
        needs_battery=True,
    ),
    FaultFamily(
        "swelling.sag",
        FaultKind.BATTERY_SWELLING,
        H,
        (Curve.INTERMITTENT, Curve.ACCELERATING),
        (6, 14),
        (8, 18),
        {"swell_temp": (1.5, 4), "swell_vnoise": (0.01, 0.03), "swell_res": (0.15, 0.35)},
        "mostly resistance: voltage sags under load, the battery only 1.5-4 °C warmer",
        needs_battery=True,
    ),
    # --- battery_bad_cell
    FaultFamily(
        "bad_cell.drops",
        FaultKind.BATTERY_BAD_CELL,
        T,
        (Curve.SMOOTH, Curve.STEP),
        (4, 10),
        (6, 12),
        {"cell_drops": (0.2, 0.6)},
        "sudden drops of 15-40% charge while discharging, 0.2-0.6 per hour",
        needs_battery=True,
    ),
    FaultFamily(
        "bad_cell.shutdowns",
        FaultKind.BATTERY_BAD_CELL,
        H,
        (Curve.INTERMITTENT, Curve.LINEAR),
        (4, 12),
        (5, 14),
        {"cell_shutdowns": (0.04, 0.15)},
        "below 35% charge the device dies at once (0 %, off until plugged in, then boots)",
        needs_battery=True,
    ),
    # --- cooling_failure
    FaultFamily(
        "cooling.fan",
        FaultKind.COOLING_FAILURE,
        T,
        (Curve.SMOOTH, Curve.LINEAR),
        (8, 16),
        (9, 18),
        {"cool_offset": (8, 15), "cool_load": (20, 40)},
        "a failing fan or heat pipe: CPU 8-15 °C hotter, more under load; throttles",
    ),
    FaultFamily(
        "cooling.paste",
        FaultKind.COOLING_FAILURE,
        T,
        (Curve.LINEAR, Curve.SMOOTH),
        (6, 14),
        (8, 16),
        {"cool_offset": (2, 6), "throttle_mult": (1, 3)},
        "dried paste: CPU 2-6 °C hotter at the same light load, 2-4 times the usual"
        " throttling, battery temperature unchanged",
    ),
    FaultFamily(
        "cooling.clog",
        FaultKind.COOLING_FAILURE,
        H,
        (Curve.ACCELERATING, Curve.INTERMITTENT),
        (8, 18),
        (10, 20),
        {"cool_load": (6, 16), "throttle_mult": (1.5, 4)},
        "dust: hotter only under load (6-16 °C at full load), throttles more",
    ),
    # --- faulty_charger
    FaultFamily(
        "charger.hot",
        FaultKind.FAULTY_CHARGER,
        T,
        (Curve.SMOOTH, Curve.STEP),
        (3, 8),
        (6, 12),
        {"charger_heat": (8, 15)},
        "the battery heats 8-15 °C while charging only",
        needs_battery=True,
    ),
    FaultFamily(
        "charger.slow",
        FaultKind.FAULTY_CHARGER,
        H,
        (Curve.INTERMITTENT, Curve.LINEAR),
        (3, 10),
        (5, 14),
        {"charger_heat": (4, 9), "charger_slow": (0.4, 0.8)},
        "a worn cable or port: charging 40-80% slower, 4-9 °C warmer, on and off",
        needs_battery=True,
    ),
    # --- crash_loop
    FaultFamily(
        "crash.loop",
        FaultKind.CRASH_LOOP,
        T,
        (Curve.STEP, Curve.SMOOTH),
        (0.2, 1),
        (3, 6),
        {"crash_rate": (4, 12)},
        "a new version of one app crashes 4-12 times an hour with one signature",
    ),
    FaultFamily(
        "crash.bursts",
        FaultKind.CRASH_LOOP,
        H,
        (Curve.INTERMITTENT, Curve.RECOVERING),
        (1, 4),
        (4, 9),
        {"crash_rate": (2, 6)},
        "one app crashes in bursts of a few hours, 2-6 an hour, quiet in between",
    ),
    # --- kernel_fault
    FaultFamily(
        "kernel.panics",
        FaultKind.KERNEL_FAULT,
        T,
        (Curve.SMOOTH, Curve.LINEAR),
        (5, 10),
        (7, 14),
        {"panic_rate": (3, 8)},
        "kernel panics 3-8 a day, each followed by a reboot",
    ),
    FaultFamily(
        "kernel.watchdog",
        FaultKind.KERNEL_FAULT,
        T,
        (Curve.LINEAR, Curve.STEP),
        (3, 10),
        (5, 12),
        {"watchdog_rate": (2, 8)},
        "reboots 2-8 a day marked `watchdog` or with no reason; no panic record",
    ),
    FaultFamily(
        "kernel.oops",
        FaultKind.KERNEL_FAULT,
        H,
        (Curve.ACCELERATING, Curve.INTERMITTENT),
        (5, 12),
        (7, 16),
        {"oops_rate": (3, 10), "watchdog_rate": (1, 4)},
        "kernel oopses 3-10 a day and 1-4 unexplained reboots",
    ),
    # --- storage_runaway
    FaultFamily(
        "storage.flood",
        FaultKind.STORAGE_RUNAWAY,
        T,
        (Curve.SMOOTH, Curve.STEP),
        (5, 10),
        (8, 16),
        {"runaway_gb": (6, 14)},
        "a log or cache grows 6-14 GB a day",
    ),
    FaultFamily(
        "storage.creep",
        FaultKind.STORAGE_RUNAWAY,
        T,
        (Curve.LINEAR,),
        (10, 25),
        (20, 35),
        {"runaway_frac": (0.03, 0.07), "owner_deletes": (0.15, 0.35)},
        "grows 3-7% of the disk a day while the owner deletes files now and then,"
        " until the disk sits full",
    ),
    FaultFamily(
        "storage.leak",
        FaultKind.STORAGE_RUNAWAY,
        H,
        (Curve.ACCELERATING, Curve.INTERMITTENT),
        (6, 16),
        (10, 22),
        {"runaway_frac": (0.04, 0.12)},
        "a leak that grows with use: 4-12% of the disk a day at full strength",
    ),
    # --- flash_eol
    FaultFamily(
        "flash.wear",
        FaultKind.FLASH_EOL,
        T,
        (Curve.SMOOTH, Curve.LINEAR),
        (10, 20),
        (12, 24),
        {"wear_rate": (5, 10)},
        "flash wear grows 5-10% a day",
    ),
    FaultFamily(
        "flash.late",
        FaultKind.FLASH_EOL,
        H,
        (Curve.ACCELERATING, Curve.STEP),
        (8, 20),
        (10, 24),
        {"wear_rate": (2, 6), "io_errors": (1, 5)},
        "wear 2-6% a day and I/O errors (kernel oops `mmc`) a few times a day",
    ),
)

SITUATIONS: tuple[SituationFamily, ...] = (
    SituationFamily(
        "heavy_usage.week",
        "heavy_usage",
        T,
        3.0,
        (2, 6),
        {"activity": (1.8, 2.6)},
        "a busy week: activity x1.8-2.6, faster drain, more heat",
    ),
    SituationFamily(
        "heavy_usage.gaming",
        "heavy_usage",
        H,
        3.0,
        (2, 8),
        {"activity": (1.5, 2.0), "gaming": (0.7, 1.0)},
        "evening gaming: 3-4 h a day at 90-100% load, throttling, warm battery",
    ),
    SituationFamily(
        "hot_week.region",
        "hot_week",
        T,
        4.0,
        (5, 8),
        {"ambient": (8, 12)},
        "a heat wave: every device of a region 8-12 °C warmer",
        regional=True,
    ),
    SituationFamily(
        "cold_snap.region",
        "cold_snap",
        H,
        3.0,
        (4, 9),
        {"ambient": (-14, -8)},
        "a cold snap: every device of a region 8-14 °C colder (higher resistance)",
        regional=True,
    ),
    SituationFamily(
        "os_update.reindex",
        "os_update",
        T,
        3.0,
        (1, 1.5),
        {"burst_gb": (2, 6), "release": (0.3, 0.8), "update_load": (15, 35)},
        "an OS update: 2-6 GB written over a day while re-indexing, CPU busy,"
        " one reboot; part of it freed again",
    ),
    SituationFamily(
        "os_update.large",
        "os_update",
        H,
        2.0,
        (1.5, 3),
        {"burst_gb": (4, 9), "release": (0.0, 0.3), "update_load": (20, 45)},
        "a major OS upgrade: 4-9 GB over 1.5-3 days, mostly kept, two reboots",
    ),
    SituationFamily(
        "app_update.crashes",
        "app_update",
        T,
        3.0,
        (0.5, 1.2),
        {"update_crashes": (1, 4)},
        "an app update crashes 1-4 times an hour for up to a day, then a fix ships",
    ),
    SituationFamily(
        "app_update.flaky",
        "app_update",
        H,
        3.0,
        (1, 2.5),
        {"update_crashes": (0.5, 2)},
        "a flaky app version for 1-2.5 days, several signatures",
    ),
    SituationFamily(
        "travel.warm",
        "travel",
        T,
        1.5,
        (4, 14),
        {"ambient": (5, 12), "tz_shift": (-9, 9)},
        "a holiday somewhere warm in another time zone",
    ),
    SituationFamily(
        "travel.cold",
        "travel",
        H,
        1.5,
        (3, 10),
        {"ambient": (-15, -6), "tz_shift": (-9, 9), "activity": (1.2, 1.6)},
        "a ski trip: 6-15 °C colder, more use, another time zone",
    ),
    SituationFamily(
        "charge_limit.on",
        "charge_limit",
        T,
        1.0,
        (20, 60),
        {"limit": (80, 80)},
        "the owner turns on an 80% charge limit",
        needs_battery=True,
    ),
    SituationFamily(
        "charge_limit.adaptive",
        "charge_limit",
        H,
        1.0,
        (20, 60),
        {"limit": (80, 90)},
        "adaptive charging holds 80-90% most of the night",
        needs_battery=True,
    ),
    SituationFamily(
        "long_idle.drawer",
        "long_idle",
        T,
        1.5,
        (5, 20),
        {"activity": (0.03, 0.1)},
        "a device in a drawer: hardly used, still charged now and then",
    ),
    SituationFamily(
        "run_flat.left_off",
        "run_flat",
        T,
        1.5,
        (3, 12),
        {"no_charge": (1, 1)},
        "not charged until it runs flat; sits off until the window ends, then boots",
        needs_battery=True,
    ),
    SituationFamily(
        "run_flat.spare",
        "run_flat",
        H,
        1.5,
        (6, 20),
        {"no_charge": (1, 1), "activity": (0.05, 0.3)},
        "a spare device, lightly used, never charged: runs flat slowly and sits off",
        needs_battery=True,
    ),
    SituationFamily(
        "cleanup.owner",
        "cleanup",
        T,
        2.0,
        (0.1, 0.3),
        {"delete": (0.15, 0.4)},
        "the owner deletes 15-40% of what is stored",
    ),
    SituationFamily(
        "cleanup.restore",
        "cleanup",
        H,
        1.0,
        (1, 3),
        {"delete": (0.3, 0.6), "restore": (0.5, 0.9)},
        "a clean reinstall: 30-60% deleted, then 50-90% of it restored from backup over days",
    ),
    SituationFamily(
        "offline.trip",
        "offline",
        T,
        2.0,
        (0.5, 3),
        {"offline": (1, 1)},
        "no network for a while: no samples arrive (they are lost)",
    ),
)


@dataclass(frozen=True)
class Split:
    """One side of the tuning / held-out division: which families a fleet draws from,
    and a salt that keeps its seeds apart from the other side's."""

    name: SplitName
    device_families: tuple[DeviceFamily, ...]
    fault_families: tuple[FaultFamily, ...]
    situations: tuple[SituationFamily, ...]
    salt: int


def split(name: str) -> Split:
    """The split called `name` (`tuning`, `held_out`, or `held-out`)."""
    try:
        which = SplitName(name.replace("-", "_"))
    except ValueError:
        raise ValueError(f"split {name!r}: expected tuning or held-out") from None
    return Split(
        which,
        tuple(f for f in DEVICE_FAMILIES if f.split is which),
        tuple(f for f in FAULT_FAMILIES if f.split is which),
        tuple(s for s in SITUATIONS if s.split is which),
        salt=0x7E57 if which is SplitName.TUNING else 0x4E1D,
    )
