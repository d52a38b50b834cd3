"""Scoring findings against a simulated run's ground truth.

A finding is *true* when its device has an injected fault of the same kind and it was
detected no earlier than a day before the fault's onset; every other finding is
*false* (a healthy device, another kind, or long before the fault began). A fault is
*found* when at least one true finding names it; its lead time is the time from the
first such finding to the moment its owner would have called support. Findings on a
device while a non-fault (a heavy-usage period, a heat wave in its region) was on, or
within two days after, are counted apart as well: they are the No Fault Found cases
the product exists to avoid.

For the widened simulator (issue 12) the figures go further: a fault is also *found by
its category* when a finding of any kind of the same category (battery, thermal,
storage, crash) names its device after onset (the right repair shop, perhaps the wrong
offer); false findings are split by what they hit (a healthy device, a faulty device
before its fault began, another kind of the same category, another category); the
share of healthy devices with any false finding; lead times per category (median and
worst); recall per shape family; and per situation how many windows there were and how
many drew a finding.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from devicecare.contracts.vocabulary import FaultKind

DAY_MS = 86_400_000
ONSET_TOLERANCE_MS = DAY_MS
NON_FAULT_AFTER_MS = 2 * DAY_MS


@dataclass(frozen=True)
class Found:
    """What evaluation needs of a finding: device, kind, detection time (ms)."""

    device_id: str
    kind: str
    detected_ms: int


@dataclass
class KindScore:
    faults: int = 0
    found: int = 0
    true_findings: int = 0
    false_findings: int = 0
    leads_days: list[float] = field(default_factory=list)
    found_any_kind: int = 0
    """Found by a finding of any kind of the fault's category."""
    leads_any_kind_days: list[float] = field(default_factory=list)

    @property
    def recall(self) -> float | None:
        return self.found / self.faults if self.faults else None

    @property
    def recall_any_kind(self) -> float | None:
        return self.found_any_kind / self.faults if self.faults else None

    @property
    def precision(self) -> float | None:
        total = self.true_findings + self.false_findings
        return self.true_findings / total if total else None


@dataclass
class Evaluation:
    devices: int
    days: float
    kinds: dict[str, KindScore]
    non_fault_findings: dict[str, int]
    false_findings: int
    true_findings: int
    leads_days: list[float]
    missed: list[dict[str, object]]
    families: dict[str, KindScore] = field(default_factory=dict)
    false_by_target: dict[str, int] = field(default_factory=dict)
    healthy_devices: int = 0
    healthy_with_false: int = 0
    false_by_kind_on_healthy: dict[str, int] = field(default_factory=dict)
    non_fault_windows: dict[str, int] = field(default_factory=dict)
    non_fault_windows_hit: dict[str, int] = field(default_factory=dict)
    non_fault_findings_by_family: dict[str, int] = field(default_factory=dict)

    @property
    def device_days(self) -> float:
        return self.devices * self.days

    def categories(self) -> dict[str, dict[str, object]]:
        """Per fault category: faults, recall (right kind and any kind of the category),
        the worst right-kind recall of its kinds, median and worst lead."""
        out: dict[str, dict[str, object]] = {}
        for category in sorted({_category(k) for k in self.kinds}):
            scores = [s for k, s in self.kinds.items() if _category(k) == category and s.faults]
            faults = sum(s.faults for s in scores)
            if not faults:
                continue
            leads = [d for s in scores for d in s.leads_days]
            any_leads = [d for s in scores for d in s.leads_any_kind_days]
            out[category] = {
                "faults": faults,
                "recall": _r(sum(s.found for s in scores) / faults),
                "recall_any_kind": _r(sum(s.found_any_kind for s in scores) / faults),
                "median_lead_days": _r(statistics.median(leads) if leads else None),
                "worst_lead_days": _r(min(leads) if leads else None),
                "median_lead_any_kind_days": _r(
                    statistics.median(any_leads) if any_leads else None
                ),
                "worst_lead_any_kind_days": _r(min(any_leads) if any_leads else None),
            }
        return out

    def as_json(self) -> dict[str, object]:
        faults = sum(k.faults for k in self.kinds.values())
        found = sum(k.found for k in self.kinds.values())
        total = self.true_findings + self.false_findings
        return {
            "devices": self.devices,
            "days": self.days,
            "faults": faults,
            "faults_found": found,
            "recall": {k: _r(s.recall) for k, s in sorted(self.kinds.items()) if s.faults},
            "recall_overall": _r(found / faults if faults else None),
            "precision": _r(self.true_findings / total if total else None),
            "precision_by_kind": {
                k: _r(s.precision) for k, s in sorted(self.kinds.items()) if s.precision is not None
            },
            "findings": total,
            "false_findings": self.false_findings,
            "false_per_1000_device_days": _r(
                1000 * self.false_findings / self.device_days if self.device_days else None
            ),
            "median_lead_days": _r(statistics.median(self.leads_days) if self.leads_days else None),
            "min_lead_days": _r(min(self.leads_days) if self.leads_days else None),
            "median_lead_days_by_kind": {
                k: _r(statistics.median(s.leads_days))
                for k, s in sorted(self.kinds.items())
                if s.leads_days
            },
            "non_fault_findings": self.non_fault_findings,
            "missed": self.missed,
            "recall_any_kind": {
                k: _r(s.recall_any_kind) for k, s in sorted(self.kinds.items()) if s.faults
            },
            "categories": self.categories(),
            "false_by_target": self.false_by_target,
            "healthy_devices": self.healthy_devices,
            "healthy_devices_with_false_finding": self.healthy_with_false,
            "healthy_share_with_false_finding": _r(
                self.healthy_with_false / self.healthy_devices if self.healthy_devices else None
            ),
            "false_on_healthy_by_kind": self.false_by_kind_on_healthy,
            "families": {
                name: {
                    "faults": s.faults,
                    "found": s.found,
                    "found_any_kind": s.found_any_kind,
                    "median_lead_days": _r(
                        statistics.median(s.leads_days) if s.leads_days else None
                    ),
                }
                for name, s in sorted(self.families.items())
            },
            "non_fault_windows": self.non_fault_windows,
            "non_fault_windows_with_finding": self.non_fault_windows_hit,
            "non_fault_findings_by_family": self.non_fault_findings_by_family,
        }


def _category(kind: str) -> str:
    try:
        return FaultKind(kind).category.value
    except ValueError:
        return "other"


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def is_true(fault: dict | None, detected_ms: int) -> bool:
    """Whether a finding detected at `detected_ms` names `fault` (the truth's fault of
    the finding's device and kind, None when there is none)."""
    return fault is not None and detected_ms >= fault["onset_ms"] - ONSET_TOLERANCE_MS


def evaluate(truth: dict, findings: Iterable[Found]) -> Evaluation:  # noqa: PLR0912, PLR0915 - one pass over the findings, read as one
    """Score `findings` (every finding the detectors opened) against `truth`, the
    document `devicecare simulate --truth` writes."""
    faults = {(f["device_id"], f["kind"]): f for f in truth["faults"]}
    fault_of_device = {f["device_id"]: f for f in truth["faults"]}
    region = {d["device_id"]: d["region"] for d in truth["devices"]}
    kinds: dict[str, KindScore] = defaultdict(KindScore)
    families: dict[str, KindScore] = defaultdict(KindScore)
    for fault in truth["faults"]:
        kinds[fault["kind"]].faults += 1
        families[fault.get("family", "classic")].faults += 1
    first: dict[tuple[str, str], int] = {}
    first_any: dict[str, int] = {}
    non_fault: dict[str, int] = defaultdict(int)
    non_fault_family: dict[str, int] = defaultdict(int)
    windows_hit: set[int] = set()
    by_target: dict[str, int] = defaultdict(int)
    on_healthy: dict[str, int] = defaultdict(int)
    healthy_hit: set[str] = set()
    true_findings = false_findings = 0
    for finding in findings:
        key = (finding.device_id, finding.kind)
        fault = faults.get(key)
        if is_true(fault, finding.detected_ms):
            true_findings += 1
            kinds[finding.kind].true_findings += 1
            first[key] = min(first.get(key, finding.detected_ms), finding.detected_ms)
            first_any[finding.device_id] = min(
                first_any.get(finding.device_id, finding.detected_ms), finding.detected_ms
            )
            continue
        false_findings += 1
        kinds[finding.kind].false_findings += 1
        other = fault_of_device.get(finding.device_id)
        if other is None:
            by_target["healthy_device"] += 1
            on_healthy[finding.kind] += 1
            healthy_hit.add(finding.device_id)
        elif finding.detected_ms < other["onset_ms"] - ONSET_TOLERANCE_MS:
            by_target["before_onset"] += 1
        elif _category(other["kind"]) == _category(finding.kind):
            by_target["other_kind_same_category"] += 1
            first_any[finding.device_id] = min(
                first_any.get(finding.device_id, finding.detected_ms), finding.detected_ms
            )
        else:
            by_target["other_category"] += 1
        for index, window in enumerate(truth["non_faults"]):
            device = window["device_id"]
            covers = device == finding.device_id or (
                device is None and window["region"] == region.get(finding.device_id)
            )
            if covers and (
                window["start_ms"] <= finding.detected_ms <= window["end_ms"] + NON_FAULT_AFTER_MS
            ):
                non_fault[window["kind"]] += 1
                non_fault_family[window.get("family", "classic")] += 1
                windows_hit.add(index)
                break
    leads: list[float] = []
    missed = []
    for key, fault in faults.items():
        family = families[fault.get("family", "classic")]
        if key in first:
            lead = (fault["visible_ms"] - first[key]) / DAY_MS
            kinds[fault["kind"]].found += 1
            kinds[fault["kind"]].leads_days.append(lead)
            family.found += 1
            family.leads_days.append(lead)
            leads.append(lead)
        else:
            missed.append(
                {"device_id": key[0], "kind": key[1], "family": fault.get("family", "classic")}
            )
        if key[0] in first_any:
            kinds[fault["kind"]].found_any_kind += 1
            kinds[fault["kind"]].leads_any_kind_days.append(
                (fault["visible_ms"] - first_any[key[0]]) / DAY_MS
            )
            family.found_any_kind += 1
    windows: dict[str, int] = defaultdict(int)
    hit: dict[str, int] = defaultdict(int)
    for index, window in enumerate(truth["non_faults"]):
        windows[window["kind"]] += 1
        if index in windows_hit:
            hit[window["kind"]] += 1
    days = (truth["end_ms"] - truth["start_ms"]) / DAY_MS
    return Evaluation(
        devices=len(truth["devices"]),
        days=days,
        kinds=dict(kinds),
        non_fault_findings=dict(non_fault),
        false_findings=false_findings,
        true_findings=true_findings,
        leads_days=leads,
        missed=missed,
        families=dict(families),
        false_by_target=dict(by_target),
        healthy_devices=len(truth["devices"]) - len(fault_of_device),
        healthy_with_false=len(healthy_hit),
        false_by_kind_on_healthy=dict(on_healthy),
        non_fault_windows=dict(windows),
        non_fault_windows_hit=dict(hit),
        non_fault_findings_by_family=dict(non_fault_family),
    )
