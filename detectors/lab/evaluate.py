"""Scoring findings against a simulated run's ground truth.

A finding is *true* when its device has an injected fault of the same kind and it was
detected no earlier than a day before the fault's onset; every other finding is
*false* (a healthy device, another kind, or long before the fault began). A fault is
*found* when at least one true finding names it; its lead time is the time from the
first such finding to the moment its owner would have called support. Findings on a
device while a non-fault (a heavy-usage period, a heat wave in its region) was on, or
within two days after, are counted apart as well: they are the No Fault Found cases
the product exists to avoid.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

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

    @property
    def recall(self) -> float | None:
        return self.found / self.faults if self.faults else None

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

    @property
    def device_days(self) -> float:
        return self.devices * self.days

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
        }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def evaluate(truth: dict, findings: Iterable[Found]) -> Evaluation:
    """Score `findings` (every finding the detectors opened) against `truth`, the
    document `devicecare simulate --truth` writes."""
    faults = {(f["device_id"], f["kind"]): f for f in truth["faults"]}
    region = {d["device_id"]: d["region"] for d in truth["devices"]}
    kinds: dict[str, KindScore] = defaultdict(KindScore)
    for fault in truth["faults"]:
        kinds[fault["kind"]].faults += 1
    first: dict[tuple[str, str], int] = {}
    non_fault: dict[str, int] = defaultdict(int)
    true_findings = false_findings = 0
    for finding in findings:
        key = (finding.device_id, finding.kind)
        fault = faults.get(key)
        if fault is not None and finding.detected_ms >= fault["onset_ms"] - ONSET_TOLERANCE_MS:
            true_findings += 1
            kinds[finding.kind].true_findings += 1
            first[key] = min(first.get(key, finding.detected_ms), finding.detected_ms)
            continue
        false_findings += 1
        kinds[finding.kind].false_findings += 1
        for window in truth["non_faults"]:
            device = window["device_id"]
            covers = device == finding.device_id or (
                device is None and window["region"] == region.get(finding.device_id)
            )
            if covers and (
                window["start_ms"] <= finding.detected_ms <= window["end_ms"] + NON_FAULT_AFTER_MS
            ):
                non_fault[window["kind"]] += 1
                break
    leads: list[float] = []
    missed = []
    for key, fault in faults.items():
        if key in first:
            lead = (fault["visible_ms"] - first[key]) / DAY_MS
            kinds[fault["kind"]].found += 1
            kinds[fault["kind"]].leads_days.append(lead)
            leads.append(lead)
        else:
            missed.append({"device_id": key[0], "kind": key[1]})
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
    )
