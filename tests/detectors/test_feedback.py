"""Verdicts on findings reach the detectors: the factor arithmetic, and a device whose
finding was marked wrong that needs clearly stronger evidence to open it again."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cli.app import app
from detectors.block import METRICS, Block, EventRow
from detectors.live.cohorts import Cohorts
from detectors.live.device import DeviceState
from detectors.live.feedback import HOLD_DAYS, MARGIN
from detectors.live.findings import Change
from detectors.live.rules.crashes import KernelFaults
from detectors.live.verdicts import (
    MAX_FACTOR,
    SLACK_IDS,
    CohortVerdicts,
    Verdict,
    threshold_factor,
)
from devicecare.contracts import EventKind
from devicecare.contracts.vocabulary import FaultKind, FeedbackVerdict

DAY = 86_400.0
START = 1_780_000_000.0
COHORT = ("Pixel 8", "14")
DETECTOR = KernelFaults.name


# --------------------------------------------------------------- factor arithmetic


def test_without_answers_the_threshold_stays() -> None:
    assert threshold_factor(0, 0) == 1.0
    assert threshold_factor(0, 5) == 1.0


def test_a_single_wrong_answer_does_not_silence_a_cohort() -> None:
    assert 1.0 < threshold_factor(1, 0) < 1.1
    assert threshold_factor(2, 0) < 1.2


def test_seven_of_ten_wrong_raise_the_threshold_by_about_a_third() -> None:
    assert threshold_factor(7, 3) == pytest.approx(1.3)


def test_confirmed_answers_pull_the_factor_back() -> None:
    assert threshold_factor(7, 13) < threshold_factor(7, 3) < threshold_factor(7, 0)
    assert threshold_factor(7, 40) == 1.0


def test_the_factor_grows_with_wrong_answers_up_to_its_cap() -> None:
    factors = [threshold_factor(n, 0) for n in range(0, 200, 10)]
    assert factors == sorted(factors)
    assert max(factors) < MAX_FACTOR < 2.0
    assert threshold_factor(100_000, 0) == pytest.approx(MAX_FACTOR, abs=1e-3)


def verdict(n: int, kind: str = FaultKind.KERNEL_FAULT, *, wrong: bool = True, **kw) -> Verdict:
    fields = {
        "feedback_id": n,
        "ts": START,
        "device_id": f"d{n}",
        "kind": kind,
        "detector": DETECTOR,
        "verdict": FeedbackVerdict.FALSE_ALARM if wrong else FeedbackVerdict.CONFIRMED,
        "cohort": COHORT,
        "detected_at": math.nan,
    }
    return Verdict(**(fields | kw))


def test_verdicts_are_counted_once_per_cohort_kind_and_detector() -> None:
    counted = CohortVerdicts()
    for n in (1, 2, 3, 5):
        assert counted.count(verdict(n))
    assert counted.count(verdict(4, wrong=False))
    assert counted.count(verdict(6, cohort=("Pixel 8", "15")))
    assert not counted.count(verdict(3))
    factor = counted.factor(COHORT, FaultKind.KERNEL_FAULT, DETECTOR)
    assert (factor.wrong, factor.confirmed) == (4, 1)
    assert factor.note() == (
        f"threshold raised x{factor.factor:.2f} in this cohort after 4 of 5 answered findings"
        " were marked wrong"
    )
    assert counted.factor(COHORT, FaultKind.CRASH_LOOP, DETECTOR).factor == 1.0
    assert counted.factor(("Pixel 8", "15"), FaultKind.KERNEL_FAULT, DETECTOR).wrong == 1


def test_a_verdict_committed_late_under_a_later_id_is_still_counted() -> None:
    counted = CohortVerdicts()
    counted.count(verdict(10))
    assert counted.since < 9
    assert counted.count(verdict(9))
    counted.count(verdict(10 + 2 * SLACK_IDS))
    assert not counted.count(verdict(11))
    assert counted.factor(COHORT, FaultKind.KERNEL_FAULT, DETECTOR).wrong == 3


# --------------------------------------------------------------- one device


def blocks(first_day: float, last_day: float, panics: list[float]) -> list[Block]:
    """Six-hour blocks of hourly samples, with kernel panics at the given days."""
    out = []
    day = first_day
    while day < last_day:
        ts = START + (day + np.arange(6) / 24) * DAY
        cols = {m: np.full(len(ts), np.nan) for m in METRICS}
        cols["battery_pct"] = np.full(len(ts), 60.0)
        cols["cpu_temp_c"] = np.full(len(ts), 40.0)
        events = [
            EventRow(START + p * DAY, EventKind.KERNEL_PANIC.value, signature="oops")
            for p in panics
            if day <= p < day + 0.25
        ]
        out.append(Block(ts, cols, events))
        day += 0.25
    return out


def run(state: DeviceState, cohorts: Cohorts, fb: list[Block]) -> list[Change]:
    changes: list[Change] = []
    for block in fb:
        changes += state.process(block, cohorts)
    return changes


def opened(changes: list[Change]) -> list[Change]:
    return [c for c in changes if c.what == "opened" and c.finding.kind == FaultKind.KERNEL_FAULT]


def test_a_false_alarm_needs_clearly_stronger_evidence_to_open_again() -> None:
    cohorts = Cohorts()
    state = DeviceState("d1")
    state.describe(*COHORT)
    first = opened(run(state, cohorts, blocks(0, 10, [3.0, 3.2])))
    assert len(first) == 1
    control = copy.deepcopy(state)

    wrong = verdict(1, device_id="d1", detected_at=first[0].finding.detected_at)
    state.apply_feedback(wrong)
    state.apply_feedback(wrong)
    assert FaultKind.KERNEL_FAULT not in state.open_findings()

    # The same evidence again (two panics in two weeks, level 1): the control, which
    # never heard the verdict, opens a new finding; the device that did does not.
    same = blocks(10, 23, [20.0, 20.2])
    assert len(opened(run(control, Cohorts(), same))) == 1
    assert opened(run(state, cohorts, same)) == []

    # Four panics in two weeks (level 2, over 1.5x the level marked wrong): it opens,
    # and says why.
    again = opened(run(state, cohorts, blocks(23, 27, [24.0, 24.2])))
    assert len(again) == 1
    feedback = again[0].finding.evidence["feedback"]
    assert feedback["marked_wrong_at_level"] == 1.0
    assert feedback["needed_level"] == MARGIN
    assert feedback["level"] == 2.0
    assert "opened again after a false alarm" in feedback["false_alarm_note"]
    assert "cohort_note" not in feedback


def test_the_floor_lapses_after_its_hold_time() -> None:
    state = DeviceState("d1")
    state.describe(*COHORT)
    first = opened(run(state, Cohorts(), blocks(0, 5, [3.0, 3.2])))
    state.apply_feedback(verdict(1, device_id="d1", detected_at=first[0].finding.detected_at))
    late = 5 + HOLD_DAYS
    assert len(opened(run(state, Cohorts(), blocks(late, late + 4, [late + 1, late + 1.2])))) == 1


def test_a_cohort_with_many_wrong_findings_asks_more_and_says_so() -> None:
    cohorts = Cohorts()
    for n in range(1, 8):
        cohorts.verdicts.count(verdict(100 + n))
    for n in range(1, 4):
        cohorts.verdicts.count(verdict(200 + n, wrong=False))
    # Two panics (level 1) no longer open a finding in this cohort; three (1.5) do.
    quiet = DeviceState("d1")
    quiet.describe(*COHORT)
    assert opened(run(quiet, cohorts, blocks(0, 8, [3.0, 3.2]))) == []
    loud = DeviceState("d2")
    loud.describe(*COHORT)
    found = opened(run(loud, cohorts, blocks(0, 8, [3.0, 3.1, 3.2])))
    assert len(found) == 1
    feedback = found[0].finding.evidence["feedback"]
    assert feedback["cohort_threshold_factor"] == 1.3
    assert feedback["cohort_note"] == (
        "threshold raised x1.30 in this cohort after 7 of 10 answered findings were marked wrong"
    )
    # Another cohort is not affected.
    other = DeviceState("d3")
    other.describe("Pixel 8", "15")
    assert len(opened(run(other, cohorts, blocks(0, 8, [3.0, 3.2])))) == 1


def test_a_confirmed_finding_stays_open_whatever_its_cohort_says() -> None:
    cohorts = Cohorts()
    state = DeviceState("d1")
    state.describe(*COHORT)
    first = opened(run(state, cohorts, blocks(0, 5, [3.0, 3.2])))
    state.apply_feedback(
        verdict(1, device_id="d1", wrong=False, detected_at=first[0].finding.detected_at)
    )
    for n in range(2, 30):
        cohorts.verdicts.count(verdict(n))
    changes = run(state, cohorts, blocks(5, 9, []))
    assert [c.what for c in changes if c.what == "resolved"] == []
    assert FaultKind.KERNEL_FAULT in state.open_findings()


# --------------------------------------------------------------- the backtest


@pytest.mark.integration  # a simulated fleet
def test_the_backtest_answers_findings_and_reports_the_answers(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    argv = ["eval", "backtest", "--split", "tuning", "--devices", "30", "--days", "20"]
    result = CliRunner().invoke(
        app, [*argv, "--faults", "all=10", "--feedback", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    answers = figures["feedback"]
    assert answers, "no finding was answered"
    assert {"detector", "fault_kind", "model", "os_version", "wrong", "confirmed"} <= set(
        answers[0]
    )
    assert all(
        r["factor"] == round(threshold_factor(r["wrong"], r["confirmed"]), 2) for r in answers
    )
    assert "answers in the backtest" in result.output
