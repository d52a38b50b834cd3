"""Crash rules: one app crashing over and over in the same place, and a system that
panics and reboots, each against the device's own baseline."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from detectors.base import Rule
from detectors.block import Block, EventRow
from detectors.live.findings import Assessment, Context, Explanation, quiet, rounded
from devicecare.contracts import EventKind, Severity
from devicecare.contracts.vocabulary import FaultKind

DAY = 86_400.0
APP_CRASHES = frozenset({EventKind.APP_CRASH.value, EventKind.NATIVE_CRASH.value})
KERNEL = frozenset({EventKind.KERNEL_PANIC.value, EventKind.KERNEL_OOPS.value})


class CrashLoop(Rule):
    """Crashes with one signature, many times a day, where the device normally has few."""

    name = FaultKind.CRASH_LOOP
    kinds: ClassVar[tuple[str, ...]] = (FaultKind.CRASH_LOOP,)

    def __init__(
        self, *, window_hours: float = 24.0, crashes_for_fault: int = 5, baseline_days: float = 14.0
    ) -> None:
        self.window_hours = window_hours
        self.crashes_for_fault = crashes_for_fault
        self.baseline_days = baseline_days
        self.recent: dict[str, list[float]] = {}
        self.latest: dict[str, tuple[str | None, str | None]] = {}
        self.decayed = 0.0
        self.decayed_at = math.nan
        self.first = math.nan

    def score_block(self, block: Block) -> np.ndarray:
        return np.zeros(len(block))

    def learn_block(self, block: Block, mask: np.ndarray) -> None:
        if len(block) and math.isnan(self.first):
            self.first = float(block.ts[0])
        for event in block.events:
            if event.kind in APP_CRASHES:
                self._add(event)

    def _add(self, event: EventRow) -> None:
        signature = event.signature or f"{event.process or '?'}:{event.kind}"
        horizon = event.ts - self.window_hours * 3600
        times = [t for t in self.recent.get(signature, []) if t >= horizon]
        times.append(event.ts)
        self.recent[signature] = times[-64:]
        self.latest[signature] = (event.process, event.app_version)
        if len(self.recent) > 16:
            stale = min(self.recent, key=lambda s: self.recent[s][-1])
            del self.recent[stale]
            self.latest.pop(stale, None)
        if not math.isnan(self.decayed_at):
            age = min(0.0, self.decayed_at - event.ts)
            self.decayed *= math.exp(age / (self.baseline_days * DAY))
        self.decayed += 1.0
        self.decayed_at = (
            event.ts if math.isnan(self.decayed_at) else max(event.ts, self.decayed_at)
        )
        if math.isnan(self.first):
            self.first = event.ts

    def assess(self, now: float, context: Context) -> list[Assessment]:
        horizon = now - self.window_hours * 3600
        counts = {s: sum(1 for t in ts if t >= horizon) for s, ts in self.recent.items()}
        if not counts:
            return [quiet(FaultKind.CRASH_LOOP, self.name)]
        signature = max(counts, key=lambda s: counts[s])
        count = counts[signature]
        process, version = self.latest.get(signature, (None, None))
        observed_days = max((now - self.first) / DAY, 1.0) if not math.isnan(self.first) else 1.0
        usual = (self.decayed - count) / min(observed_days, self.baseline_days)
        level = count / self.crashes_for_fault
        crashes_for_fault = self.crashes_for_fault

        def explain() -> Explanation:
            app = (process or "An app").rsplit(".", 1)[-1]
            usual_text = (
                "it rarely crashes otherwise"
                if usual < 0.2
                else f"otherwise it sees about {usual:.1f} crashes a day"
            )
            return Explanation(
                Severity.HIGH if count >= 4 * crashes_for_fault else Severity.MEDIUM,
                min(0.99, 0.5 + 0.1 * (count - crashes_for_fault + 1)),
                f"{app.capitalize()} crashed {count} times in the last day on your "
                f"{context.noun}, always in the same place"
                + (f" (version {version})" if version else "")
                + f"; {usual_text}. An update or reinstall of the app usually fixes it.",
                {
                    "signature": signature,
                    "process": process,
                    "app_version": version,
                    "crashes_24h": count,
                    "usual_crashes_per_day": rounded(max(usual, 0.0), 2),
                },
            )

        return [Assessment(FaultKind.CRASH_LOOP, level, self.name, explain)]


class KernelFaults(Rule):
    """Kernel panics and oopses: a healthy device has none, so a few in two weeks count."""

    name = "kernel_faults"
    kinds: ClassVar[tuple[str, ...]] = (FaultKind.KERNEL_FAULT,)

    def __init__(self, *, window_days: float = 14.0, faults_for_fault: int = 2) -> None:
        self.window_days = window_days
        self.faults_for_fault = faults_for_fault
        self.faults: list[tuple[float, str]] = []
        self.reboots: list[float] = []

    def score_block(self, block: Block) -> np.ndarray:
        return np.zeros(len(block))

    def learn_block(self, block: Block, mask: np.ndarray) -> None:
        for event in block.events:
            if event.kind in KERNEL:
                self.faults.append((event.ts, event.signature or event.kind))
            elif event.kind == EventKind.REBOOT.value:
                self.reboots.append(event.ts)
        if block.events:
            horizon = max(e.ts for e in block.events) - self.window_days * DAY
            self.faults = [f for f in self.faults if f[0] >= horizon][-32:]
            self.reboots = [r for r in self.reboots if r >= horizon][-32:]

    def assess(self, now: float, context: Context) -> list[Assessment]:
        horizon = now - self.window_days * DAY
        recent = [s for t, s in self.faults if t >= horizon]
        reboots = sum(1 for t in self.reboots if t >= horizon)
        level = len(recent) / self.faults_for_fault
        faults_for_fault = self.faults_for_fault

        def explain() -> Explanation:
            signature = max(set(recent), key=recent.count) if recent else None
            return Explanation(
                Severity.HIGH if len(recent) > faults_for_fault else Severity.MEDIUM,
                min(0.99, 0.3 * len(recent)),
                f"Your {context.noun} hit {len(recent)} system-level errors (kernel panics) "
                f"in the last two weeks and restarted {reboots} times. This points to a "
                "hardware or firmware fault; a free diagnostic can tell which.",
                {"kernel_faults_14d": len(recent), "reboots_14d": reboots, "signature": signature},
            )

        return [Assessment(FaultKind.KERNEL_FAULT, level, self.name, explain)]
