"""`devicecare demo`: the whole loop on a simulated fleet, with a results table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from devicecare.cli_context import settings_of

out = Console()


def demo(
    ctx: typer.Context,
    devices: Annotated[int, typer.Option(min=2, help="Simulated devices.")] = 500,
    days: Annotated[float, typer.Option(min=2, max=85, help="Simulated days, ending now.")] = 60,
    seed: Annotated[int, typer.Option(help="Same seed, same fleet and faults.")] = 7,
    upload_hours: Annotated[
        float, typer.Option(min=0.25, help="Simulated hours between a device's uploads.")
    ] = 12.0,
    faults: Annotated[
        str | None, typer.Option(help="Fault rates as for `devicecare simulate --faults`.")
    ] = None,
    database: Annotated[
        str, typer.Option(help="Database the demo creates afresh on the server.")
    ] = "devicecare_demo",
    json_file: Annotated[
        Path | None, typer.Option("--json", help="Also write the figures as one JSON object.")
    ] = None,
    html_file: Annotated[
        Path | None, typer.Option("--html", help="Where to write the HTML report.")
    ] = None,
    truth: Annotated[
        Path | None, typer.Option(help="Also write the run's ground truth (JSON) here.")
    ] = None,
) -> None:
    """Simulate a fleet through broker, ingest, detectors and notifier; print the results."""
    from demo import report, results
    from demo.pipeline import DemoPlan, report_path, run
    from simulator.faults import parse_spec

    try:
        parse_spec(faults)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    settings = settings_of(ctx)
    plan = DemoPlan(devices, days, seed, upload_hours, database, faults)
    done = run(settings, plan, out)
    figures, leads = results.figures(done)
    out.print(table(figures))
    if truth is not None:
        truth.write_text(json.dumps(done.truth, indent=1))
    if json_file is not None:
        json_file.write_text(json.dumps(figures, indent=1))
        out.print(f"figures: {json_file}")
    page = report.write(html_file or report_path(settings), done.url, done.truth, figures, leads)
    out.print(f"report: {page}\ndata: {done.url.rsplit('@', 1)[-1]}")


def _pct(value: object) -> str:
    return "-" if value is None else f"{float(value):.0%}"  # type: ignore[arg-type]


def table(f: dict) -> Table:
    t = Table(title="DeviceCare demo", show_header=False)
    t.add_column("what")
    t.add_column("figure", overflow="fold")
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(f["faults_by_kind"].items()))
    recall = ", ".join(f"{k} {_pct(v)}" for k, v in sorted(f["recall_by_kind"].items()))
    rows = [
        ("devices, days", f"{f['devices']}, {f['days']:g}"),
        ("samples stored", f"{f['samples']:,} of {f['samples_published']:,} published"),
        ("faults injected", f"{f['faults']}: {kinds}"),
        ("faults found", f"{f['faults_found']} (recall {_pct(f['recall'])}): {recall}"),
        (
            "false findings",
            f"{f['false_findings']} ({f['false_per_1000_device_days']} per 1,000 device-days)",
        ),
        (
            "offers reaching the owner",
            f"{f['faults_offered']} faults, {f['faults_offered_before_call']} before the owner "
            "would have called",
        ),
        (
            "lead time (offer before call)",
            f"median {f['median_lead_days']} days, worst {f['worst_lead_days']} days",
        ),
        (
            "offers",
            f"{f['offers_sent']} sent of {f['offers_created']} created; "
            f"{f['offers_accepted']} accepted, {f['offers_dismissed']} dismissed, "
            f"{f['offers_wrong']} 'wrong'",
        ),
        (
            "suppressed (findings)",
            ", ".join(f"{k} {v}" for k, v in sorted(f["suppressed"].items())) or "none",
        ),
        ("fleet alerts, reminders", f"{f['fleet_alerts']}, {f['reminders']}"),
    ]
    for kind, tally in sorted(f["non_faults"].items()):
        rows.append(
            (
                f"non-fault: {kind}",
                f"{tally['device_periods']} device-periods: {tally['nothing']} nothing, "
                f"{tally['tip_only']} a self-help tip, {tally['repair_offer']} a repair offer",
            )
        )
    rows.append(("wall time", ", ".join(f"{k} {v}" for k, v in f["timings_s"].items())))
    for what, figure in rows:
        t.add_row(what, figure)
    return t
