"""The demo's results table in an 80-column terminal: every line fits and no word is cut."""

from __future__ import annotations

from rich.console import Console

from demo.cli import table
from demo.results import rows
from devicecare.contracts.vocabulary import FaultKind

FIGURES = {
    "devices": 500,
    "days": 60.0,
    "samples": 2_880_000,
    "samples_published": 2_880_000,
    "faults": 65,
    "faults_by_kind": {
        FaultKind.BATTERY_SWELLING: 9,
        FaultKind.BATTERY_BAD_CELL: 8,
        FaultKind.COOLING_FAILURE: 7,
        FaultKind.FAULTY_CHARGER: 8,
        FaultKind.CRASH_LOOP: 9,
        FaultKind.KERNEL_FAULT: 8,
        FaultKind.STORAGE_RUNAWAY: 8,
        FaultKind.FLASH_EOL: 8,
    },
    "faults_found": 65,
    "recall": 1.0,
    "recall_by_kind": {
        FaultKind.BATTERY_SWELLING: 1.0,
        FaultKind.CRASH_LOOP: 1.0,
        FaultKind.STORAGE_RUNAWAY: 0.875,
    },
    "false_findings": 0,
    "false_per_1000_device_days": 0.0,
    "faults_offered": 65,
    "faults_offered_before_call": 65,
    "median_lead_days": 7.35,
    "worst_lead_days": 3.07,
    "offers_created": 70,
    "offers_sent": 68,
    "offers_by_kind": {"repair_offer": 20, "self_help_tip": 30, "store_diagnostic": 18},
    "offers_by_status": {"accepted": 52, "declined": 10, "delivered": 6},
    "offers_accepted": 52,
    "offers_dismissed": 10,
    "offers_wrong": 0,
    "suppressed": {"quiet_hours": 23, "cooldown": 2},
    "fleet_alerts": 0,
    "reminders": 3,
    "non_faults": {
        "heavy_usage": {"device_periods": 283, "nothing": 283, "tip_only": 0, "repair_offer": 0},
        "hot_week": {"device_periods": 206, "nothing": 206, "tip_only": 0, "repair_offer": 0},
    },
    "timings_s": {"setup_s": 4.1, "simulate_s": 101.3, "ingest_tail_s": 22.9, "total_s": 173.0},
}


def test_the_results_table_fits_80_columns_without_cutting_a_word() -> None:
    console = Console(width=80, record=True, color_system=None)
    console.print(table(FIGURES))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    words = set(text.replace("│", " ").split())
    for what, figure in rows(FIGURES):
        for word in f"{what} {figure}".split():
            assert word in words, f"{word!r} of {what!r} is cut"


def test_figures_read_as_words_and_units() -> None:
    figures = dict(rows(FIGURES))
    assert figures["lead time (offer before call)"] == "median 7.35 days, worst 3.07 days"
    assert "battery swelling 9" in figures["faults injected"]
    assert figures["held back (findings)"] == "cooldown 2, quiet hours 23"
    assert "_" not in " ".join(f"{k} {v}" for k, v in figures.items())
