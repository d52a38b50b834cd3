"""Backtest: a simulated fleet fed straight into the detectors, no broker or database.

The fleet's readings go to each device's `DeviceState` in blocks of one upload period,
exactly as the live service would hand them over, and the findings are scored against
the run's ground truth. Tests and `bench/detect.py` use it; the live path
(`devicecare simulate` + `devicecare detect` + `devicecare eval`) is the same code with
MQTT and TimescaleDB in between. With a `FeedbackPlan`, owners and repairs answer the
findings as they would in the field, and the answers reach the detectors as the live
service hands them over from `finding_feedback`.
"""

from __future__ import annotations

import heapq
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from detectors.block import METRICS, Block, EventRow
from detectors.lab.evaluate import Evaluation, Found, evaluate, is_true
from detectors.live.cohorts import Cohorts
from detectors.live.device import DEVICE_PROFILE, DeviceProfile, DeviceState
from detectors.live.findings import Change, Finding
from detectors.live.verdicts import CohortVerdicts, Verdict
from devicecare.contracts.vocabulary import FeedbackVerdict
from simulator.families import Split, split
from simulator.faults import parse_spec
from simulator.fleet import Fleet
from simulator.run import Plan, start_of

NOW_MS = 1_790_000_000_000
DAY = 86_400.0


@dataclass(frozen=True)
class FeedbackPlan:
    """How findings are answered in a backtest. The owner of a device without the
    finding's fault says "this was wrong" with probability `wrong_on_false` within
    `answer_days`; a true finding is confirmed by a repair with probability
    `confirm_on_true` within `repair_days`, and otherwise marked wrong by a mistaken
    owner with probability `wrong_on_true`."""

    wrong_on_false: float = 0.5
    confirm_on_true: float = 0.6
    wrong_on_true: float = 0.05
    answer_days: tuple[float, float] = (0.5, 3.0)
    repair_days: tuple[float, float] = (2.0, 7.0)


@dataclass
class Backtest:
    evaluation: Evaluation
    truth: dict
    states: list[DeviceState]
    changes: list[Change] = field(default_factory=list)
    samples: int = 0
    detect_s: float = 0.0
    verdicts: CohortVerdicts | None = None
    """With a feedback plan: the answers given, counted per cohort and detector."""


def periods(plan: Plan, fleet: Fleet) -> Iterator[list[tuple[int, Block]]]:
    """Upload periods in order: each is the (device index, block) pairs of one period."""
    every = plan.steps_per_upload
    interval = plan.interval_s
    for start in range(0, plan.steps, every):
        stamps, readings, reporting = [], [], []
        events: dict[int, list[EventRow]] = defaultdict(list)
        for step in range(start, min(start + every, plan.steps)):
            t_ms = fleet.start_ms + step * interval * 1000
            tick = fleet.step(t_ms, interval)
            stamps.append(t_ms / 1000)
            readings.append(tick.readings)
            reporting.append(
                np.ones(fleet.n, dtype=bool) if tick.reporting is None else tick.reporting
            )
            for device, e in tick.events:
                events[device].append(
                    EventRow(
                        e.ts / 1000,
                        e.kind.value,
                        e.process,
                        e.signature,
                        e.app_version,
                        (e.detail or {}).get("reason"),
                    )
                )
        ts = np.array(stamps)
        absent = np.full((fleet.n, len(stamps)), np.nan)
        columns = {
            m: np.stack([r[m] for r in readings], axis=1) if m in readings[0] else absent
            for m in METRICS
        }
        sent = np.stack(reporting, axis=1)
        yield [
            (i, _block(ts, columns, i, sent[i], sorted(events.get(i, []), key=lambda e: e.ts)))
            for i in range(fleet.n)
        ]


def _block(
    ts: np.ndarray,
    columns: dict[str, np.ndarray],
    device: int,
    sent: np.ndarray,
    events: list[EventRow],
) -> Block:
    """One device's block of a period, without the steps it sent nothing (off, offline)."""
    if sent.all():
        return Block(ts, {m: columns[m][device] for m in METRICS}, events)
    return Block(ts[sent], {m: columns[m][device][sent] for m in METRICS}, events)


def resolve(name: str, faults: str | None = None) -> Split | None:
    """The split called `name` (None for `default`, the unwidened fleet); checks the
    fault spec too, so that a command can reject bad input before it simulates."""
    parse_spec(faults)
    return None if name == "default" else split(name)


def run(
    devices: int,
    days: float,
    *,
    seed: int = 1,
    faults: str | None = None,
    upload_hours: float = 24.0,
    profile: DeviceProfile = DEVICE_PROFILE,
    split: Split | None = None,
    feedback: FeedbackPlan | None = None,
) -> Backtest:
    """Simulate and detect; with `split`, the widened fleet of that split's families
    (devices that are off or offline send nothing: their blocks have gaps); with
    `feedback`, findings are answered and the answers reach the detectors."""
    plan = Plan(devices, days, seed, faults, upload_hours=upload_hours)
    fleet = Fleet(
        devices,
        seed=seed,
        start_ms=start_of(plan, NOW_MS),
        days=days,
        faults=faults,
        split=split,
    )
    states = [DeviceState(device_id, profile) for device_id in fleet.ids]
    for state, model, version, kind in zip(
        states, fleet.models, fleet.os_versions, fleet.wide.classes, strict=True
    ):
        state.describe(model.name, version, device_class=kind.value)
    cohorts = Cohorts()
    answers = None if feedback is None else _Answers(feedback, fleet, states, seed)
    changes: list[Change] = []
    samples, detect_s = 0, 0.0
    for pairs in periods(plan, fleet):
        started = time.perf_counter()
        period: list[Change] = []
        for index, block in pairs:
            period += states[index].process(block, cohorts, profile)
        if answers is not None:
            answers.deliver(max(s.last_ts for s in states), cohorts)
            answers.answer(period)
        changes += period
        detect_s += time.perf_counter() - started
        samples += sum(len(b) for _, b in pairs)
    truth = _truth(plan, fleet)
    found = [
        Found(c.finding.device_id, c.finding.kind, int(c.finding.detected_at * 1000))
        for c in changes
        if c.what == "opened"
    ]
    verdicts = None if feedback is None else cohorts.verdicts
    return Backtest(evaluate(truth, found), truth, states, changes, samples, detect_s, verdicts)


class _Answers:
    """Answers to a backtest's findings, given at data times and delivered in order."""

    def __init__(
        self, plan: FeedbackPlan, fleet: Fleet, states: list[DeviceState], seed: int
    ) -> None:
        self.plan = plan
        self.rng = np.random.default_rng([seed, 16])
        self.faults = {(f["device_id"], f["kind"]): f for f in fleet.truth()["faults"]}
        self.states = {s.device_id: s for s in states}
        self.pending: list[tuple[float, int, Verdict]] = []
        self.next_id = 1

    def answer(self, changes: list[Change]) -> None:
        """Decide who answers the findings just opened, and when."""
        for change in changes:
            if change.what != "opened":
                continue
            f = change.finding
            fault = self.faults.get((f.device_id, str(f.kind)))
            draw = self.rng.random()
            if not is_true(fault, int(f.detected_at * 1000)):
                if draw < self.plan.wrong_on_false:
                    self._schedule(f, FeedbackVerdict.FALSE_ALARM, self.plan.answer_days)
            elif draw < self.plan.confirm_on_true:
                self._schedule(f, FeedbackVerdict.CONFIRMED, self.plan.repair_days)
            elif draw < self.plan.confirm_on_true + self.plan.wrong_on_true:
                self._schedule(f, FeedbackVerdict.FALSE_ALARM, self.plan.answer_days)

    def _schedule(self, f: Finding, verdict: FeedbackVerdict, days: tuple[float, float]) -> None:
        state = self.states[f.device_id]
        at = f.detected_at + float(self.rng.uniform(*days)) * DAY
        answer = Verdict(
            feedback_id=self.next_id,
            ts=at,
            device_id=f.device_id,
            kind=str(f.kind),
            detector=f.detector,
            verdict=verdict,
            cohort=Cohorts.key(state.model, state.os_version),
            detected_at=f.detected_at,
        )
        heapq.heappush(self.pending, (at, self.next_id, answer))
        self.next_id += 1

    def deliver(self, until: float, cohorts: Cohorts) -> None:
        """Hand over the answers given up to data time `until`."""
        while self.pending and self.pending[0][0] <= until:
            _, _, answer = heapq.heappop(self.pending)
            cohorts.verdicts.count(answer)
            self.states[answer.device_id].apply_feedback(answer)


def _truth(plan: Plan, fleet: Fleet) -> dict:
    return {
        "start_ms": fleet.start_ms,
        "end_ms": fleet.start_ms + plan.steps * plan.interval_s * 1000,
        "interval_s": plan.interval_s,
        **fleet.truth(),
    }
