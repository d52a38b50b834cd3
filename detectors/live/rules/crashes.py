"""Crash rules: one app crashing over and over in the same place, and a system that
panics or restarts by itself, each against the device's own baseline."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from detectors.base import Rule
from detectors.block import Block, EventRow
from detectors.live.decay import DecayedMean
from detectors.live.findings import (
    Assessment,
    Context,
    Explanation,
    quiet,
    rounded,
    times_text,
)
from detectors.live.rules.battery import KERNEL_EVENTS, PANIC_REBOOT_S, unexpected_reboot
from devicecare.contracts import EventKind, Severity
from devicecare.contracts.vocabulary import FaultKind

DAY = 86_400.0
APP_CRASHES = frozenset({EventKind.APP_CRASH.value, EventKind.NATIVE_CRASH.value})
KERNEL = KERNEL_EVENTS


class CrashLoop(Rule):
    """Crashes with one signature, many times a day, where the device normally has few,
    for longer than a bad app update lasts.

    An episode of a signature begins with its first crash after `episode_gap_hours`
    without one; a fault needs `crashes_for_fault` of one signature in `window_hours`,
    and `usual_ratio` times the device's own usual crashes a day (all signatures, over
    `baseline_days`), and an episode of at least `min_episode_hours` (an app update
    that crashes for a day until its fix ships is not a loop). The episode is the rule's
    own sustain time."""

    name = FaultKind.CRASH_LOOP
    kinds: ClassVar[tuple[str, ...]] = (FaultKind.CRASH_LOOP,)

    def __init__(
        self,
        *,
        window_hours: float = 24.0,
        crashes_for_fault: int = 5,
        baseline_days: float = 14.0,
        episode_gap_hours: float = 12.0,
        min_episode_hours: float = 36.0,
        usual_ratio: float = 2.0,
    ) -> None:
        self.window_hours = window_hours
        self.crashes_for_fault = crashes_for_fault
        self.baseline_days = baseline_days
        self.episode_gap_hours = episode_gap_hours
        self.min_episode_hours = min_episode_hours
        self.usual_ratio = usual_ratio
        self.episodes: dict[str, tuple[float, float]] = {}
        """When each signature's current episode began, and the device's usual crashes
        a day just before (the episode's own crashes must not raise its bar)."""
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
        before = self.recent.get(signature, [])
        if not before or event.ts - before[-1] > self.episode_gap_hours * 3600:
            self.episodes[signature] = (event.ts, self._usual(event.ts))
        horizon = event.ts - self.window_hours * 3600
        times = [t for t in before if t >= horizon]
        times.append(event.ts)
        self.recent[signature] = times[-64:]
        self.latest[signature] = (event.process, event.app_version)
        if len(self.recent) > 16:
            stale = min(self.recent, key=lambda s: self.recent[s][-1])
            del self.recent[stale]
            self.latest.pop(stale, None)
            self.episodes.pop(stale, None)
        if not math.isnan(self.decayed_at):
            age = min(0.0, self.decayed_at - event.ts)
            self.decayed *= math.exp(age / (self.baseline_days * DAY))
        self.decayed += 1.0
        self.decayed_at = (
            event.ts if math.isnan(self.decayed_at) else max(event.ts, self.decayed_at)
        )
        if math.isnan(self.first):
            self.first = event.ts

    def rebaseline(self, now: float) -> None:
        """After an OS update: the usual crash rate is learned anew."""
        self.decayed = 0.0
        self.decayed_at = math.nan
        self.first = now

    def _usual(self, now: float) -> float:
        """The device's crashes a day so far (all signatures), decayed to `now`."""
        if math.isnan(self.first) or math.isnan(self.decayed_at):
            return 0.0
        days = min(max((now - self.first) / DAY, 1.0), self.baseline_days)
        age = min(0.0, self.decayed_at - now)
        return self.decayed * math.exp(age / (self.baseline_days * DAY)) / days

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
        began, before = self.episodes.get(signature, (now, usual))
        episode = max(0.0, now - began)
        needed = max(self.crashes_for_fault, self.usual_ratio * max(before, 0.0))
        level = min(count / needed, episode / (self.min_episode_hours * 3600))
        crashes_for_fault = self.crashes_for_fault

        def explain() -> Explanation:
            app = (process or "An app").rsplit(".", 1)[-1]
            days = episode / DAY
            lasting = "for more than a day" if days < 2 else f"for {days:.0f} days"
            usual_text = (
                "it rarely crashes otherwise"
                if usual < 0.2
                else f"otherwise it sees about {usual:.1f} crashes a day"
            )
            return Explanation(
                Severity.HIGH if count >= 4 * crashes_for_fault else Severity.MEDIUM,
                min(0.99, 0.5 + 0.1 * (count - crashes_for_fault + 1)),
                f"{app.capitalize()} crashed {times_text(count)} in the last day on your "
                f"{context.noun}, always in the same place, and has kept crashing {lasting}"
                + (f" (version {version})" if version else "")
                + f"; {usual_text}. An update or reinstall of the app usually fixes it.",
                {
                    "signature": signature,
                    "process": process,
                    "app_version": version,
                    "crashes_24h": count,
                    "episode_hours": rounded(episode / 3600, 1),
                    "usual_crashes_per_day": rounded(max(usual, 0.0), 2),
                },
            )

        return [Assessment(FaultKind.CRASH_LOOP, level, self.name, explain)]


class KernelFaults(Rule):
    """Kernel panics and oopses, and restarts nobody asked for.

    A healthy device has no panics, so a few in two weeks count. Reboots count too: one
    the owner did not ask for (no reason, a watchdog, a panic) that follows the last
    sample closely (the device was running, not switched off or out of power) is a
    crash of the whole system, even without a panic record. `reboots_for_fault` of them
    beyond the device's own usual rate in a week make a fault on their own. A reboot
    after a gap in the samples is a power-off: no system fault (for a battery device
    with charge to spare, `ChargeDrops` reads it as a failing cell; a gateway on mains
    that lost power has no fault). A reboot within minutes of a panic is that panic's."""

    name = "kernel_faults"
    kinds: ClassVar[tuple[str, ...]] = (FaultKind.KERNEL_FAULT,)

    def __init__(
        self,
        *,
        window_days: float = 14.0,
        faults_for_fault: int = 2,
        reboot_days: float = 7.0,
        reboots_for_fault: int = 6,
        baseline_days: float = 30.0,
        max_gap_minutes: float = 20.0,
    ) -> None:
        self.window_days = window_days
        self.faults_for_fault = faults_for_fault
        self.reboot_days = reboot_days
        self.reboots_for_fault = reboots_for_fault
        self.baseline_days = baseline_days
        self.max_gap_minutes = max_gap_minutes
        self.faults: list[tuple[float, str]] = []
        self.reboots: list[float] = []
        """Unexpected reboots while running, not explained by a panic."""
        self.usual = DecayedMean(baseline_days * DAY)
        """Unexpected reboots per day in the device's own past (before the last week)."""
        self.learned_to = math.nan
        """The end of the last day the usual rate has learned."""
        self.last_sample = math.nan
        self.first = math.nan

    def score_block(self, block: Block) -> np.ndarray:
        return np.zeros(len(block))

    def _running_reboots(self, block: Block) -> list[float]:
        ts = np.concatenate(([self.last_sample], block.ts))
        panics = [e.ts for e in block.events if e.kind in KERNEL] + [t for t, _ in self.faults]
        found = []
        for event in block.events:
            if not unexpected_reboot(event):
                continue
            before = int(np.searchsorted(ts, event.ts, side="left")) - 1
            if before < 0 or not math.isfinite(ts[before]):
                continue
            if event.ts - float(ts[before]) > self.max_gap_minutes * 60:
                continue
            if any(0 <= event.ts - p <= PANIC_REBOOT_S for p in panics):
                continue
            found.append(event.ts)
        return found

    def learn_block(self, block: Block, mask: np.ndarray) -> None:
        if len(block) and math.isnan(self.first):
            self.first = float(block.ts[0])
        for event in block.events:
            if event.kind in KERNEL:
                self.faults.append((event.ts, event.signature or event.kind))
        self.reboots += self._running_reboots(block)
        if len(block):
            self.last_sample = float(block.ts[-1])
        latest = max([e.ts for e in block.events] + [self.last_sample])
        if math.isfinite(latest):
            self._learn_usual(latest)
            horizon = latest - max(self.window_days, self.reboot_days) * DAY
            self.faults = [f for f in self.faults if f[0] >= horizon][-32:]
            self.reboots = [r for r in self.reboots if r >= horizon][-64:]

    def _learn_usual(self, now: float) -> None:
        """Reboots older than the recent window teach the usual rate, a day at a time."""
        if math.isnan(self.first):
            return
        day = (self.learned_to if not math.isnan(self.learned_to) else self.first) + DAY
        while day <= now - self.reboot_days * DAY:
            count = sum(1 for r in self.reboots if day - DAY <= r < day)
            self.usual.update(np.array([day]), np.array([float(count)]))
            self.learned_to = day
            day += DAY

    def rebaseline(self, now: float) -> None:
        """After an OS update: the usual rate of unexpected reboots is learned anew,
        from the days after it."""
        self.usual = DecayedMean(self.usual.tau)
        self.learned_to = now

    def assess(self, now: float, context: Context) -> list[Assessment]:
        horizon = now - self.window_days * DAY
        recent = [s for t, s in self.faults if t >= horizon]
        reboots = sum(1 for t in self.reboots if t >= now - self.reboot_days * DAY)
        usual = self.usual.mean if self.usual.s0 > 0 else 0.0
        extra = max(0.0, reboots - usual * self.reboot_days)
        level = max(len(recent) / self.faults_for_fault, extra / self.reboots_for_fault)
        faults_for_fault = self.faults_for_fault

        def explain() -> Explanation:
            signature = max(set(recent), key=recent.count) if recent else None
            noun = context.noun
            if recent:
                what = (
                    f"hit {len(recent)} system-level errors (kernel panics) in the last two weeks"
                    if len(recent) > 1
                    else "hit a system-level error (a kernel panic) in the last two weeks"
                )
                if reboots:
                    what += f" and restarted by itself {times_text(reboots)} more this week"
            else:
                what = f"restarted by itself {times_text(reboots)} in the last week"
                if usual >= 0.1:
                    what += f", where it used to about {usual * 7:.0f} times a week"
            return Explanation(
                Severity.HIGH
                if len(recent) > faults_for_fault or extra >= 2 * self.reboots_for_fault
                else Severity.MEDIUM,
                min(0.99, 0.3 * len(recent) + 0.1 * extra),
                f"Your {noun} {what}. This points to a hardware or firmware fault; a free "
                "diagnostic can tell which.",
                {
                    "kernel_faults_14d": len(recent),
                    "unexpected_reboots_7d": reboots,
                    "usual_reboots_per_day": rounded(usual, 2),
                    "signature": signature,
                },
            )

        return [Assessment(FaultKind.KERNEL_FAULT, level, self.name, explain)]
