"""Crash rules: one app crashing over and over in the same place, and a system that
panics or restarts by itself, each against the device's own baseline."""

from __future__ import annotations

import math
import re
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
MAX_SIGNATURES = 16
APP_WIDE_LEVEL = 0.9
"""The crash-loop level a crash is held at while many devices of the cohort share it."""
"""Signatures a device's crash state follows at once; the stalest is dropped."""


def _version(text: str | None) -> tuple[int, ...] | None:
    """An app version as numbers ("4.10.2" -> (4, 10, 2)), None when it has none."""
    parts = re.findall(r"\d+", text or "")
    return tuple(int(p) for p in parts[:4]) if parts else None


def _newer(candidate: str | None, than: str | None) -> bool:
    """Whether version `candidate` is later than `than` (False when either is unknown)."""
    a, b = _version(candidate), _version(than)
    return a is not None and b is not None and a > b


class CrashLoop(Rule):
    """One app crashing over and over in the same place, for longer than a bad release
    lasts, at a rate far above the device's own.

    Per signature, crashes are counted in hourly bins over `window_hours`. An episode of
    a signature begins with its first crash after `episode_gap_hours` without one and
    lasts to its latest crash (not to now: a release that crashed for a day and was
    fixed does not keep an episode growing). A fault needs, at once:

    - `crashes_for_fault` of the signature in `window_hours`, and `usual_ratio` times the
      device's usual crashes a day (all signatures, over `baseline_days`, as they were
      before the episode began, so that the loop's own crashes do not raise its bar);
    - an episode of `min_episode_hours` that is still going (a crash within
      `episode_gap_hours`): a release that crashes for a day until its fix is no loop;
      `machine_episode_hours` at machine pace (`machine_per_hour` or more over the
      window, all day long: an app or service restarting itself, where an owner
      re-opening a broken app gives up after a few tries);
    - the signature holding `min_share` of its app's crashes in the window: a loop runs
      the same code path again and again, a bad release crashes in several places;
    - no newer version of the app since the signature's crashes: crashes tied to one
      version that stop with an update are the app's bug, fixed, not the device's;
    - not the same crash on many devices of the cohort at once (`cohort_devices` others
      and `cohort_share` of the cohort within `cohort_days`): that is the app's
      release failing everywhere, not this device (held under 1, noted in the evidence).
    """

    name = FaultKind.CRASH_LOOP
    kinds: ClassVar[tuple[str, ...]] = (FaultKind.CRASH_LOOP,)

    def __init__(
        self,
        *,
        window_hours: float = 24.0,
        crashes_for_fault: int = 5,
        baseline_days: float = 14.0,
        episode_gap_hours: float = 24.0,
        min_episode_hours: float = 36.0,
        machine_episode_hours: float = 24.0,
        machine_per_hour: float = 3.0,
        usual_ratio: float = 2.0,
        min_share: float = 0.6,
        cohort_devices: int = 3,
        cohort_share: float = 0.1,
        cohort_days: float = 3.0,
    ) -> None:
        self.window_hours = window_hours
        self.crashes_for_fault = crashes_for_fault
        self.baseline_days = baseline_days
        self.episode_gap_hours = episode_gap_hours
        self.min_episode_hours = min_episode_hours
        self.machine_episode_hours = machine_episode_hours
        self.machine_per_hour = machine_per_hour
        self.usual_ratio = usual_ratio
        self.min_share = min_share
        self.cohort_devices = cohort_devices
        self.cohort_share = cohort_share
        self.cohort_days = cohort_days
        self.episodes: dict[str, tuple[float, float, float]] = {}
        """Per signature: when its episode began, its latest crash, and the device's
        usual crashes a day just before the episode."""
        self.hours: dict[str, dict[int, int]] = {}
        """Per signature: crashes per hour (hours since the epoch) within the window."""
        self.latest: dict[str, tuple[str | None, str | None]] = {}
        """Per signature: the process and app version of its latest crash."""
        self.newest: dict[str, str] = {}
        """Per process: the newest app version any of its crashes reported."""
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
        began, last, before = self.episodes.get(signature, (math.nan, -math.inf, 0.0))
        if event.ts - last > self.episode_gap_hours * 3600:
            began, before = event.ts, self._usual(event.ts)
        self.episodes[signature] = (min(began, event.ts), max(last, event.ts), before)
        hour = int(event.ts // 3600)
        bins = self.hours.setdefault(signature, {})
        bins[hour] = bins.get(hour, 0) + 1
        horizon = hour - int(self.window_hours)
        for old in [h for h in bins if h < horizon]:
            del bins[old]
        self.latest[signature] = (event.process, event.app_version)
        if event.process and event.app_version:
            newest = self.newest.get(event.process)
            if newest is None or _newer(event.app_version, newest):
                self.newest[event.process] = event.app_version
        if len(self.episodes) > MAX_SIGNATURES:
            stale = min(self.episodes, key=lambda s: self.episodes[s][1])
            del self.episodes[stale]
            self.hours.pop(stale, None)
            self.latest.pop(stale, None)
            processes = {p for p, _ in self.latest.values()}
            self.newest = {p: v for p, v in self.newest.items() if p in processes}
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

    def _count(self, signature: str, now: float) -> int:
        horizon = int((now - self.window_hours * 3600) // 3600)
        return sum(n for h, n in self.hours.get(signature, {}).items() if h > horizon)

    def heavy(self, now: float) -> list[str]:
        """The signatures crashing at a fault's rate now, for the cohort's view."""
        return [s for s in self.hours if self._count(s, now) >= self.crashes_for_fault]

    def _level(self, signature: str, now: float, counts: dict[str, int]) -> float:
        """How strongly one signature's crashes are a loop (1 = all conditions hold)."""
        began, last, before = self.episodes[signature]
        if now - last > self.episode_gap_hours * 3600:
            return 0.0
        process, version = self.latest.get(signature, (None, None))
        if process and _newer(self.newest.get(process), version):
            return 0.0
        count = counts[signature]
        of_app = sum(n for s, n in counts.items() if self.latest.get(s, (None,))[0] == process)
        share = count / of_app if process and of_app else 1.0
        needed = max(self.crashes_for_fault, self.usual_ratio * before)
        machine = count >= self.machine_per_hour * self.window_hours
        episode = self.machine_episode_hours if machine else self.min_episode_hours
        return min(count / needed, (last - began) / (episode * 3600), share / self.min_share)

    def assess(self, now: float, context: Context) -> list[Assessment]:
        counts = {s: self._count(s, now) for s in self.episodes}
        counts = {s: n for s, n in counts.items() if n > 0}
        if not counts:
            return [quiet(FaultKind.CRASH_LOOP, self.name)]
        levels = {s: self._level(s, now, counts) for s in counts}
        signature = max(levels, key=lambda s: levels[s])
        level = levels[signature]
        count = counts[signature]
        spread = context.crash_spread(signature, now - self.cohort_days * DAY)
        others = spread[0] if spread is not None else None
        if spread is not None and spread[0] >= max(
            self.cohort_devices, self.cohort_share * spread[1]
        ):
            level = min(level, APP_WIDE_LEVEL)
        began, last, before = self.episodes[signature]
        process, version = self.latest.get(signature, (None, None))
        crashes_for_fault = self.crashes_for_fault

        def explain() -> Explanation:
            app = (process or "An app").rsplit(".", 1)[-1]
            hours = max(last - began, 0.0) / 3600
            lasting = f"for {hours:.0f} hours" if hours < 48 else f"for {hours / 24:.0f} days"
            usual_text = (
                "it rarely crashes otherwise"
                if before < 0.2
                else f"before this it saw about {min(before, count / 2):.1f} crashes a day"
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
                    "episode_hours": rounded(hours, 1),
                    "usual_crashes_per_day": rounded(max(before, 0.0), 2),
                    "cohort_devices_same_crash": others,
                },
            )

        return [Assessment(FaultKind.CRASH_LOOP, level, self.name, explain)]


class KernelFaults(Rule):
    """Kernel panics and oopses, and restarts nobody asked for.

    A healthy device has no panics, so a few in two weeks count. Reboots count too: one
    the owner did not ask for (no reason, a watchdog, a panic) that follows the last
    sample closely (the device was running, not switched off or out of power) is a
    crash of the whole system, even without a panic record. `reboots_for_fault` of them
    beyond the device's own usual rate in a week make a fault on their own, and so do
    `burst_reboots` beyond it within `burst_days` (a system restarting every day or
    more often need not wait a week). A reboot
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
        burst_days: float = 3.0,
        burst_reboots: int = 4,
        baseline_days: float = 30.0,
        max_gap_minutes: float = 20.0,
    ) -> None:
        self.window_days = window_days
        self.faults_for_fault = faults_for_fault
        self.reboot_days = reboot_days
        self.reboots_for_fault = reboots_for_fault
        self.burst_days = burst_days
        self.burst_reboots = burst_reboots
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
        burst = sum(1 for t in self.reboots if t >= now - self.burst_days * DAY)
        burst_extra = max(0.0, burst - usual * self.burst_days)
        level = max(
            len(recent) / self.faults_for_fault,
            extra / self.reboots_for_fault,
            burst_extra / self.burst_reboots,
        )
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
                    what += f", where it used to about {times_text(round(usual * 7))} a week"
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
