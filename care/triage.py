"""Repair triage: is the device the owner complains about really faulty?

`decide` is pure: it takes the complaint, the device's figures now and at its own
baseline, its cohort's figures and its open findings, and returns a verdict with a
confidence, the evidence (numbers against the baseline and the cohort) and advice.
Between 20% and 50% of devices sent in for repair come back No Fault Found; the rules
look first for what explains the symptom without a fault (usage, heat, an app), and
send a device to repair only on evidence that the hardware itself changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from care.figures import Cohort, Figures
from devicecare.contracts.vocabulary import FaultCategory, FaultKind

MIN_SAMPLES = 24
"""Fewer recent samples than this (six hours at the default interval): too little to say."""
HEALTH_LOSS_FAULT = 4.0
HEALTH_LOSS_TEST = 2.5
"""Battery health points lost since the baseline for a repair, and for a test first
(healthy batteries lose about one point a month)."""
COOLING_MARGIN = 6.0
COOLING_MARGIN_NO_BATTERY = 15.0
"""°C the CPU warms beyond the surroundings (the battery's rise) and the load for a
cooling fault; without a battery to gauge the surroundings, beyond a heat wave's."""
CPU_HEAT_PER_LOAD = 0.4
BATTERY_HEAT_PER_LOAD = 0.07
"""°C per point of CPU load: what a change of use alone does to each temperature."""


class Complaint(StrEnum):
    BATTERY = "battery"
    HEAT = "heat"
    STORAGE = "storage"
    CRASHES = "crashes"
    OTHER = "other"


class Verdict(StrEnum):
    CONFIRMED_FAULT = "confirmed_fault"
    LIKELY_FAULT_TEST_FIRST = "likely_fault_test_first"
    NO_FAULT_USAGE = "no_fault_usage"
    NO_FAULT_SOFTWARE = "no_fault_software"
    COHORT_ISSUE = "cohort_issue"
    INSUFFICIENT_DATA = "insufficient_data"

    @property
    def sends_to_repair(self) -> bool:
        """Whether the device goes to a repair bench (possibly after a test)."""
        return self in {Verdict.CONFIRMED_FAULT, Verdict.LIKELY_FAULT_TEST_FIRST}

    @property
    def no_fault(self) -> bool:
        """Whether the verdict avoids a repair: usage, software or a cohort-wide issue."""
        return self in {Verdict.NO_FAULT_USAGE, Verdict.NO_FAULT_SOFTWARE, Verdict.COHORT_ISSUE}


class RepairOutcome(StrEnum):
    FAULT_FOUND = "fault_found"
    NO_FAULT_FOUND = "no_fault_found"


COMPLAINT_CATEGORIES: dict[Complaint, frozenset[FaultCategory]] = {
    Complaint.BATTERY: frozenset({FaultCategory.BATTERY, FaultCategory.THERMAL}),
    Complaint.HEAT: frozenset({FaultCategory.THERMAL, FaultCategory.BATTERY}),
    Complaint.STORAGE: frozenset({FaultCategory.STORAGE}),
    Complaint.CRASHES: frozenset({FaultCategory.CRASH}),
    Complaint.OTHER: frozenset(FaultCategory),
}
SOFTWARE_KINDS = frozenset({FaultKind.CRASH_LOOP, FaultKind.STORAGE_RUNAWAY})
"""Findings whose fix is software (an app update, a cache clean-up), not a repair."""


@dataclass(frozen=True, slots=True)
class Observation:
    """One piece of evidence: a figure now, at the device's baseline and in its cohort."""

    text: str
    metric: str | None = None
    value: float | None = None
    baseline: float | None = None
    cohort_median: float | None = None
    cohort_percentile: float | None = None


@dataclass(frozen=True, slots=True)
class TriageInput:
    complaint: Complaint
    recent: Figures
    baseline: Figures
    cohort: Cohort
    open_findings: Sequence[tuple[FaultKind, str]] = ()
    """Open findings as (kind, plain reason)."""
    signature_devices: int = 0
    """Devices of the cohort that crashed with the device's top signature in the window."""


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    confidence: float
    advice: str
    evidence: list[Observation] = field(default_factory=list)


def _delta(now: float | None, then: float | None) -> float | None:
    return None if now is None or then is None else now - then


def _fmt(value: float | None, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:.1f}{unit}"


class _Case:
    """The evidence gathered while deciding one triage."""

    def __init__(self, data: TriageInput) -> None:
        self.data = data
        self.evidence: list[Observation] = []

    def observe(self, metric: str, label: str, unit: str = "") -> Observation:
        """Note a figure with its baseline and cohort standing, and return the note."""
        recent, baseline, cohort = self.data.recent, self.data.baseline, self.data.cohort
        value = getattr(recent, metric)
        base = getattr(baseline, metric)
        median = cohort.median(metric)
        pct = cohort.percentile(metric, value)
        parts = [f"{label} {_fmt(value, unit)}"]
        if base is not None:
            parts.append(f"own baseline {_fmt(base, unit)}")
        if median is not None:
            parts.append(f"cohort median {_fmt(median, unit)}")
        if pct is not None:
            parts.append(f"{pct:.0f}th percentile")
        note = Observation(", ".join(parts), metric, value, base, median, pct)
        self.evidence.append(note)
        return note

    def note(self, text: str) -> None:
        self.evidence.append(Observation(text))

    def done(self, verdict: Verdict, confidence: float, advice: str) -> Decision:
        return Decision(verdict, round(confidence, 2), advice, self.evidence)


def decide(data: TriageInput) -> Decision:
    """The verdict for one complaint; see the module docstring."""
    case = _Case(data)
    if data.recent.samples < MIN_SAMPLES:
        case.note(f"only {data.recent.samples} samples in the last two days")
        return case.done(
            Verdict.INSUFFICIENT_DATA,
            0.9,
            "Too little recent telemetry: ask the owner to keep the device online for a day,"
            " then run triage again.",
        )
    related = [
        (kind, reason)
        for kind, reason in data.open_findings
        if kind.category in COMPLAINT_CATEGORIES[data.complaint]
    ]
    for kind, reason in related:
        case.note(f"open finding {kind.value}: {reason}")
    hardware = [k for k, _ in related if k not in SOFTWARE_KINDS]
    handler = _HANDLERS[data.complaint]
    decision = handler(case)
    if hardware and not decision.verdict.sends_to_repair:
        return case.done(
            Verdict.CONFIRMED_FAULT,
            0.85,
            "The detectors found a hardware fault that explains the complaint: book a repair.",
        )
    return decision


def _battery(case: _Case) -> Decision:
    recent, baseline = case.data.recent, case.data.baseline
    health = case.observe("battery_health_pct", "battery health", "%")
    if health.value is None:
        return _other(case)
    drops = recent.sudden_drops
    if drops >= 2:
        case.note(f"{drops} sudden charge drops of more than 12 points while not charging")
        return case.done(
            Verdict.CONFIRMED_FAULT,
            0.9,
            "A weak cell drops the charge suddenly: replace the battery.",
        )
    lost = _delta(baseline.battery_health_pct, health.value)
    pct = health.cohort_percentile
    if lost is not None and lost >= HEALTH_LOSS_FAULT:
        case.note(
            f"battery health fell {lost:.1f} points since the baseline; normal wear is about"
            " one point a month"
        )
        return case.done(
            Verdict.CONFIRMED_FAULT,
            0.85,
            "The battery wears much faster than normal: replace the battery.",
        )
    thermal = _battery_heat(case)
    if thermal is not None:
        return thermal
    drain = case.observe("drain_pct_per_h", "discharge rate", " %/h")
    load = case.observe("cpu_load_pct", "CPU load", "%")
    drain_up = _ratio(drain.value, drain.baseline)
    load_up = _ratio(load.value, load.baseline)
    if drain_up is not None and load_up is not None:
        case.note(
            f"discharge rate {drain_up * 100 - 100:+.0f}% against the baseline,"
            f" CPU load {load_up * 100 - 100:+.0f}%"
        )
    if (lost or 0) >= HEALTH_LOSS_TEST or (pct is not None and pct <= 3 and (lost or 0) >= 1.5):
        return case.done(
            Verdict.LIKELY_FAULT_TEST_FIRST,
            0.6,
            "Battery health falls faster than normal: run the store's battery test first.",
        )
    return case.done(
        Verdict.NO_FAULT_USAGE,
        0.8 if (load_up or 1) > 1.15 else 0.65,
        "The battery is healthy; the drain follows how the device is used. Self-help: check"
        " the battery usage per app, lower screen brightness, close heavy apps, and charge"
        " between 20% and 80%.",
    )


def _ratio(now: float | None, then: float | None) -> float | None:
    if now is None or then is None or then <= 0:
        return None
    return now / then


def _battery_heat(case: _Case) -> Decision | None:
    """A battery that heats on its own (swelling) or only while charging (the charger)."""
    recent, baseline = case.data.recent, case.data.baseline
    load_rise = _delta(recent.cpu_load_pct, baseline.cpu_load_pct) or 0.0
    battery_rise = _delta(recent.battery_temp_c, baseline.battery_temp_c)
    cpu_rise = _delta(recent.cpu_temp_c, baseline.cpu_temp_c)
    charging_rise = _delta(recent.battery_temp_charging_c, baseline.battery_temp_charging_c)
    if battery_rise is not None and cpu_rise is not None:
        battery_rise -= BATTERY_HEAT_PER_LOAD * load_rise
        cpu_rise -= CPU_HEAT_PER_LOAD * load_rise
    if battery_rise is not None and cpu_rise is not None and battery_rise - cpu_rise >= 4:
        case.observe("battery_temp_c", "battery temperature", " °C")
        case.note(
            f"battery {battery_rise:+.1f} °C against the baseline while the CPU is"
            f" {cpu_rise:+.1f} °C (both corrected for the change in load): the battery heats"
            " by itself"
        )
        return case.done(
            Verdict.CONFIRMED_FAULT,
            0.85,
            "A battery that heats by itself may be swelling: stop charging it and replace it.",
        )
    if charging_rise is not None and charging_rise - max(battery_rise or 0, 0) >= 5:
        case.observe("battery_temp_charging_c", "battery temperature while charging", " °C")
        case.note(f"the battery is {charging_rise:+.1f} °C warmer while charging than at baseline")
        return case.done(
            Verdict.LIKELY_FAULT_TEST_FIRST,
            0.75,
            "The battery overheats only while charging: test with another charger and cable"
            " first; replace the charger if that cures it.",
        )
    return None


def _heat(case: _Case) -> Decision:
    recent, baseline = case.data.recent, case.data.baseline
    cpu = case.observe("cpu_temp_c", "CPU temperature", " °C")
    case.observe("throttled_share", "share of time throttled")
    battery = _battery_heat(case)
    if battery is not None:
        return battery
    cpu_rise = _delta(cpu.value, cpu.baseline)
    battery_rise = _delta(recent.battery_temp_c, baseline.battery_temp_c)
    load_rise = _delta(recent.cpu_load_pct, baseline.cpu_load_pct) or 0.0
    ambient = battery_rise if battery_rise is not None else 0.0
    margin = COOLING_MARGIN if battery_rise is not None else COOLING_MARGIN_NO_BATTERY
    if cpu_rise is not None and cpu_rise - ambient - load_rise * CPU_HEAT_PER_LOAD >= margin:
        case.note(
            f"CPU {cpu_rise:+.1f} °C against the baseline with the battery {ambient:+.1f} °C"
            f" and load {load_rise:+.0f} points: the cooling no longer keeps up"
        )
        throttled = _delta(recent.throttled_share, baseline.throttled_share) or 0.0
        confident = throttled >= 0.05 or cpu_rise >= 12
        return case.done(
            Verdict.CONFIRMED_FAULT if confident else Verdict.LIKELY_FAULT_TEST_FIRST,
            0.85 if confident else 0.65,
            "The cooling fails: repair (fan, heat sink or thermal paste)."
            if confident
            else "Run the store's thermal stress test before sending it in.",
        )
    if cpu_rise is not None:
        case.note(
            f"CPU {cpu_rise:+.1f} °C, battery {ambient:+.1f} °C, load {load_rise:+.0f} points"
            " against the baseline: the heat comes from the surroundings or the use"
        )
    return case.done(
        Verdict.NO_FAULT_USAGE,
        0.75,
        "The device warms with the weather and heavy apps, as its peers do. Self-help: keep"
        " it out of the sun and off soft surfaces, remove a thick case while charging, and"
        " close heavy apps.",
    )


def _storage(case: _Case) -> Decision:
    recent, baseline = case.data.recent, case.data.baseline
    wear = case.observe("flash_wear_pct", "flash wear", "%")
    case.observe("storage_free_pct", "storage free", "%")
    trend = case.observe("storage_trend_gb_per_day", "storage free trend", " GB/day")
    worn = _delta(wear.value, wear.baseline)
    if (wear.value or 0) >= 90 or (worn or 0) >= 20:
        case.note(f"flash wear rose {worn or 0:.0f} points since the baseline")
        return case.done(
            Verdict.CONFIRMED_FAULT,
            0.85,
            "The flash memory is wearing out: back up the data now and repair.",
        )
    free = _delta(recent.storage_free_pct, baseline.storage_free_pct)
    if (trend.value is not None and trend.value <= -3) or (
        (recent.storage_free_pct or 100) <= 2 and (free or 0) <= -15
    ):
        case.note(
            "free space falls by more than 3 GB a day or ran out within days: an app or log"
            " is filling it"
        )
        return case.done(
            Verdict.NO_FAULT_SOFTWARE,
            0.8,
            "A runaway app fills the storage: check storage per app, clear that app's"
            " cache or data, and update or reinstall it.",
        )
    return case.done(
        Verdict.NO_FAULT_USAGE,
        0.75,
        "Storage fills with photos, videos and caches. Self-help: run the clean-up guide,"
        " move photos to the cloud, clear app caches.",
    )


def _crashes(case: _Case) -> Decision:
    recent = case.data.recent
    case.observe("crashes", "app crashes in the window")
    if recent.kernel_panics >= 1:
        case.observe("kernel_panics", "kernel panics in the window")
        return case.done(
            Verdict.CONFIRMED_FAULT
            if recent.kernel_panics >= 2
            else Verdict.LIKELY_FAULT_TEST_FIRST,
            0.85 if recent.kernel_panics >= 2 else 0.6,
            "Kernel panics point to hardware (storage controller or memory): run the store"
            " diagnostic, then repair.",
        )
    share = recent.top_signature_crashes / recent.crashes if recent.crashes else 0.0
    cohort = case.data.cohort
    if recent.top_signature and recent.top_signature_crashes >= 5 and share >= 0.5:
        case.note(
            f"{recent.top_signature_crashes} of {recent.crashes} crashes share one signature"
            f" ({recent.top_signature}, app version {recent.top_app_version})"
        )
        peers = case.data.signature_devices
        if cohort.devices and peers >= 3 and peers / cohort.devices >= 0.1:
            case.note(f"{peers} of {cohort.devices} devices of the cohort crash the same way")
            return case.done(
                Verdict.COHORT_ISSUE,
                0.8,
                "The whole model and OS cohort crashes the same way: escalate to engineering.",
            )
        return case.done(
            Verdict.NO_FAULT_SOFTWARE,
            0.85,
            f"One app version crashes in a loop: update the app (version"
            f" {recent.top_app_version} is affected), or clear its data and reinstall it.",
        )
    return case.done(
        Verdict.NO_FAULT_SOFTWARE,
        0.6,
        "Crashes are at the usual rate of this device and its peers: update the OS and apps,"
        " and restart the device.",
    )


def _other(case: _Case) -> Decision:
    if case.data.open_findings:
        return case.done(
            Verdict.LIKELY_FAULT_TEST_FIRST,
            0.5,
            "The device has open findings: run the store diagnostic.",
        )
    case.note("no figure of the device stands out against its baseline or its cohort")
    return case.done(
        Verdict.INSUFFICIENT_DATA,
        0.5,
        "Nothing in the telemetry explains the complaint: ask for details or run the store"
        " diagnostic.",
    )


_HANDLERS = {
    Complaint.BATTERY: _battery,
    Complaint.HEAT: _heat,
    Complaint.STORAGE: _storage,
    Complaint.CRASHES: _crashes,
    Complaint.OTHER: _other,
}
