"""`devicecare eval triage`: score repair triage on a simulated fleet of complaining owners."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from devicecare.cli_context import settings_of

out = Console()


def triage(
    ctx: typer.Context,
    json_file: Annotated[
        Path | None, typer.Option("--json", help="Also write the figures as one JSON object.")
    ] = None,
    devices: Annotated[int, typer.Option(min=20, max=5000, help="Simulated devices.")] = 300,
    days: Annotated[float, typer.Option(min=15, max=365, help="Simulated days.")] = 60.0,
    seed: Annotated[int, typer.Option(help="Seed of the fleet and its complaints.")] = 7,
) -> None:
    """Simulate a fleet in a scratch database, triage every owner's complaint as of the
    moment they call, and report precision and recall per verdict against the truth."""
    from triagelab.evaluate import Plan, run, scratch_database

    plan = Plan(devices=devices, days=days, seed=seed)
    with scratch_database(settings_of(ctx)) as url:
        figures, _ = run(url, plan)
    table = Table(title=f"triage of {figures['complaints']} complaints, {devices} devices")
    for name in ("verdict", "given", "right", "precision", "recall"):
        table.add_column(name, justify="left" if name == "verdict" else "right")
    for verdict, row in figures["verdicts"].items():  # type: ignore[union-attr]
        table.add_row(verdict, *(str(row[k] if row[k] is not None else "-") for k in row))
    out.print(table)
    for key in ("faults", "faults_with_fault_verdict", "no_fault_complaints"):
        out.print(f"{key}: {figures[key]}")
    out.print(f"no_fault_with_no_fault_verdict: {figures['no_fault_with_no_fault_verdict']}")
    if json_file is not None:
        json_file.write_text(json.dumps(figures, indent=2) + "\n")
