"""Backtest: a simulated fleet fed straight into the detectors, no broker or database.

The fleet's readings go to each device's `DeviceState` in blocks of one upload period,
exactly as the live service would hand them over, and the findings are scored against
the run's ground truth. Tests and `bench/detect.py` use it; the live path
(`devicecare simulate` + `devicecare detect` + `devicecare eval`) is the same code with
MQTT and TimescaleDB in between. With a `FeedbackPlan`, owners and repairs answer the
findings as they would in the field, and the answers reach the detectors as the live
service hands them over from `finding_feedback`.

Sampling can vary per device and over time (`Sampling`): the world then steps at the fine
interval, every device keeps the readings on its normal grid, and a device whose sampling
is raised (high resolution on suspicion, `detectors.live.suspicion`) keeps every step's
readings of the signals concerned. Both arms of a comparison run on the same fine world,
so they differ only in what the devices sample.
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
from detectors.live.suspicion import Ledger, Policy, suspicions
from detectors.live.verdicts import CohortVerdicts, Verdict
from devicecare.contracts import COLLECTOR_METRICS, CollectorName
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
    ledger: Ledger | None = None
    """The high-resolution raises, when the run made them."""
    verdicts: CohortVerdicts | None = None
    """With a feedback plan: the answers given, counted per cohort and detector."""


@dataclass
class Sampling:
    """What each device samples, changing between upload periods: the world steps every
    `tick_s` (a divisor of the plan's interval); a device keeps the steps on the plan's
    grid, and every step's readings of the collectors `fast` names for it."""

    tick_s: int
    fast: dict[int, tuple[CollectorName, ...]] = field(default_factory=dict)


def periods(
    plan: Plan, fleet: Fleet, sampling: Sampling | None = None
) -> Iterator[list[tuple[int, Block]]]:
    """Upload periods in order: each is the (device index, block) pairs of one period."""
    interval = plan.interval_s if sampling is None else sampling.tick_s
    if plan.interval_s % interval:
        raise ValueError(f"the fine step {interval} s must divide {plan.interval_s} s")
    ratio = plan.interval_s // interval
    every = plan.steps_per_upload * ratio
    steps = plan.steps * ratio
    for start in range(0, steps, every):
        stamps, readings, reporting = [], [], []
        events: dict[int, list[EventRow]] = defaultdict(list)
        for step in range(start, min(start + every, steps)):
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
        on_grid = np.arange(start, start + len(stamps)) % ratio == 0
        fast = {} if sampling is None else sampling.fast
        yield [
            (
                i,
                _block(
                    ts,
                    _sampled(columns, i, on_grid, fast.get(i)),
                    sent[i] if i in fast else sent[i] & on_grid,
                    sorted(events.get(i, []), key=lambda e: e.ts),
                ),
            )
            for i in range(fleet.n)
        ]


def _sampled(
    columns: dict[str, np.ndarray],
    device: int,
    on_grid: np.ndarray,
    raised: tuple[CollectorName, ...] | None,
) -> dict[str, np.ndarray]:
    """One device's columns of a period: every metric on the normal grid and, while its
    sampling is raised, the raised collectors' metrics at every step (the others are
    missing, NaN, in between, as from an agent whose other collectors are not due)."""
    mine = {m: columns[m][device] for m in METRICS}
    if raised is None or on_grid.all():
        return mine
    fast = {m for c in raised for m in COLLECTOR_METRICS[c]}
    return {m: v if m in fast else np.where(on_grid, v, np.nan) for m, v in mine.items()}


def _block(
    ts: np.ndarray, columns: dict[str, np.ndarray], sent: np.ndarray, events: list[EventRow]
) -> Block:
    """One device's block of a period, without the steps it sent nothing (off, offline,
    or between its samples)."""
    if sent.all():
        return Block(ts, columns, events)
    return Block(ts[sent], {m: c[sent] for m, c in columns.items()}, events)


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
    fine_s: int | None = None,
    high_res: Policy | None = None,
    feedback: FeedbackPlan | None = None,
) -> Backtest:
    """Simulate and detect; with `split`, the widened fleet of that split's families
    (devices that are off or offline send nothing: their blocks have gaps). With
    `fine_s` the world steps that often (the devices still sample on the plan's grid);
    with `high_res` too, a device with a suspicion after an upload period samples the
    signals concerned every `fine_s` from the next period on, as the policy allows. With
    `feedback`, findings are answered and the answers reach the detectors."""
    if high_res is not None and fine_s is None:
        raise ValueError("high resolution needs the fine step (fine_s)")
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
    sampling = None if fine_s is None else Sampling(fine_s)
    ledger = None if high_res is None else Ledger(high_res, fleet.n)
    for pairs in periods(plan, fleet, sampling):
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
        now = max((float(b.ts[-1]) for _, b in pairs if len(b)), default=None)
        if ledger is not None and sampling is not None and now is not None:
            _steer(ledger, sampling, states, now)
    truth = _truth(plan, fleet)
    found = [
        Found(c.finding.device_id, c.finding.kind, int(c.finding.detected_at * 1000))
        for c in changes
        if c.what == "opened"
    ]
    verdicts = None if feedback is None else cohorts.verdicts
    return Backtest(
        evaluate(truth, found),
        truth,
        states,
        changes,
        samples,
        detect_s,
        ledger=ledger,
        verdicts=verdicts,
    )


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


def raises_summary(result: Backtest) -> dict[str, object]:
    """What the high-resolution raises of a run were: how many, on how many devices, how
    many on a device with an injected fault (the rest on healthy devices: extra data for
    nothing), and the suspicions the policy turned down, by reason."""
    if result.ledger is None:
        return {}
    faulty = {f["device_id"] for f in result.truth["faults"]}
    raises = result.ledger.raises
    return {
        "raises": len(raises),
        "devices_raised": len({r.device_id for r in raises}),
        "raises_on_faulty_devices": sum(r.device_id in faulty for r in raises),
        "raised_device_hours": round(sum(r.until - r.started for r in raises) / 3600),
        "turned_down": {str(k): v for k, v in sorted(result.ledger.refused.items())},
    }


def _steer(ledger: Ledger, sampling: Sampling, states: list[DeviceState], now: float) -> None:
    """After an upload period: end the raises whose time is up, raise the devices whose
    evidence is building (as the policy allows) for the next periods."""
    where = {state.device_id: index for index, state in enumerate(states)}
    for ended in ledger.expire(now):
        sampling.fast.pop(where[ended.device_id], None)
    for index, state in enumerate(states):
        found = suspicions(state, ledger.policy)
        if found and ledger.consider(state.device_id, now, found) is not None:
            sampling.fast[index] = ledger.active[state.device_id].collectors


def _truth(plan: Plan, fleet: Fleet) -> dict:
    return {
        "start_ms": fleet.start_ms,
        "end_ms": fleet.start_ms + plan.steps * plan.interval_s * 1000,
        "interval_s": plan.interval_s,
        **fleet.truth(),
    }
