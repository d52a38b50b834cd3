"""Held-out evaluation (issue 12): the figures `devicecare eval backtest` reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.app import app
from detectors.lab.backtest import resolve
from detectors.lab.evaluate import Found, evaluate
from devicecare.contracts.vocabulary import FaultKind

pytestmark = pytest.mark.integration  # backtests of simulated fleets

DAY = 86_400_000
START = 1_790_000_000_000


def device(n: int) -> dict[str, object]:
    return {"device_id": f"d{n}", "model": "m", "os_version": "1", "region": n % 2}


TRUTH = {
    "start_ms": START,
    "end_ms": START + 10 * DAY,
    "devices": [device(n) for n in range(10)],
    "faults": [
        {
            "device_id": "d0",
            "kind": FaultKind.BATTERY_SWELLING,
            "family": "swelling.warm",
            "onset_ms": START + 2 * DAY,
            "visible_ms": START + 9 * DAY,
        },
        {
            "device_id": "d1",
            "kind": FaultKind.COOLING_FAILURE,
            "family": "cooling.paste",
            "onset_ms": START + 2 * DAY,
            "visible_ms": START + 8 * DAY,
        },
        {
            "device_id": "d2",
            "kind": FaultKind.KERNEL_FAULT,
            "family": "kernel.watchdog",
            "onset_ms": START + 5 * DAY,
            "visible_ms": START + 9 * DAY,
        },
    ],
    "non_faults": [
        {
            "kind": "os_update",
            "family": "os_update.reindex",
            "device_id": "d5",
            "region": None,
            "start_ms": START + DAY,
            "end_ms": START + 2 * DAY,
        },
        {
            "kind": "cold_snap",
            "family": "cold_snap.region",
            "device_id": None,
            "region": 1,
            "start_ms": START + 6 * DAY,
            "end_ms": START + 8 * DAY,
        },
        {
            "kind": "travel",
            "family": "travel.warm",
            "device_id": "d8",
            "region": None,
            "start_ms": START + 6 * DAY,
            "end_ms": START + 8 * DAY,
        },
    ],
}


def test_recall_by_kind_and_by_category_false_findings_by_target_and_situation() -> None:
    found = [
        Found("d0", FaultKind.BATTERY_FADE, START + 4 * DAY),  # right category, wrong kind
        Found("d0", FaultKind.BATTERY_SWELLING, START + 6 * DAY),  # right kind, later
        Found("d1", FaultKind.FAULTY_CHARGER, START + 3 * DAY),  # thermal, wrong kind
        Found("d2", FaultKind.KERNEL_FAULT, START + DAY),  # before onset: false
        Found("d5", FaultKind.STORAGE_RUNAWAY, START + 2 * DAY),  # during the OS update
        Found("d7", FaultKind.COOLING_FAILURE, START + 7 * DAY),  # cold snap in region 1
        Found("d7", FaultKind.BATTERY_FADE, START + 9 * DAY),  # same healthy device again
    ]
    result = evaluate(TRUTH, found)
    figures = result.as_json()
    assert figures["recall"] == {
        FaultKind.BATTERY_SWELLING: 1.0,
        FaultKind.COOLING_FAILURE: 0.0,
        FaultKind.KERNEL_FAULT: 0.0,
    }
    assert figures["recall_any_kind"] == {
        FaultKind.BATTERY_SWELLING: 1.0,
        FaultKind.COOLING_FAILURE: 1.0,
        FaultKind.KERNEL_FAULT: 0.0,
    }
    assert figures["false_by_target"] == {
        "other_kind_same_category": 2,
        "before_onset": 1,
        "healthy_device": 3,
    }
    assert result.healthy_devices == 7
    assert result.healthy_with_false == 2
    assert figures["healthy_share_with_false_finding"] == round(2 / 7, 3)
    categories = figures["categories"]
    assert categories["battery"]["median_lead_days"] == 3.0
    assert categories["battery"]["median_lead_any_kind_days"] == 5.0
    assert categories["thermal"]["recall"] == 0.0
    assert categories["thermal"]["recall_any_kind"] == 1.0
    assert categories["thermal"]["worst_lead_any_kind_days"] == 5.0
    assert figures["non_fault_windows"] == {"os_update": 1, "cold_snap": 1, "travel": 1}
    assert figures["non_fault_windows_with_finding"] == {"os_update": 1, "cold_snap": 1}
    assert figures["non_fault_findings"] == {"os_update": 1, "cold_snap": 2}, "and 2 days after"
    assert figures["families"]["swelling.warm"]["found"] == 1
    assert figures["families"]["kernel.watchdog"]["found_any_kind"] == 0
    assert {m["family"] for m in figures["missed"]} == {"cooling.paste", "kernel.watchdog"}


def test_splits_are_named_and_bad_names_or_specs_are_refused() -> None:
    assert resolve("default") is None
    assert resolve("held-out").name.value == "held_out"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="tuning or held-out"):
        resolve("train")
    with pytest.raises(ValueError, match="unknown kind"):
        resolve("tuning", "gremlins=1")


def test_eval_backtest_command_writes_the_figures(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    argv = ["eval", "backtest", "--split", "held-out", "--devices", "12", "--days", "3"]
    argv += ["--seed", "4", "--faults", "all=30", "--json", str(out)]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    assert figures["split"] == "held_out"
    assert figures["devices"] == 12
    assert {"recall", "recall_any_kind", "categories", "false_per_1000_device_days"} <= set(figures)
    assert "healthy_share_with_false_finding" in figures
    assert "non-fault situations" in result.output
    bad = CliRunner().invoke(app, ["eval", "backtest", "--split", "train"])
    assert bad.exit_code != 0
    assert "tuning or held-out" in bad.output
