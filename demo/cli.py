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
        str | None,
        typer.Option(
            help="Database to fill (default: the stack's own, which the API, "
            "`devicecare config` and the dashboards read)."
        ),
    ] = None,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh", help="Delete the database's data first (needed when it holds devices)."
        ),
    ] = False,
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
    """Simulate a fleet through broker, ingest, detectors and notifier; print the results.

    The data stays in the database and the local stack keeps running, so that the
    commands printed last (API, config, dashboards) show it; `devicecare stack down`
    stops the stack.
    """
    from demo import explore, report, results
    from demo.pipeline import DemoPlan, report_path, run
    from simulator.faults import parse_spec

    try:
        parse_spec(faults)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    settings = settings_of(ctx)
    plan = DemoPlan(devices, days, seed, upload_hours, database, faults, fresh)
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
    out.print(explore.guide(settings, done.url), highlight=False, soft_wrap=True)


def table(f: dict) -> Table:
    """The figures in two columns; the second wraps at word boundaries, so the table stays
    readable in an 80-column terminal."""
    from demo.results import rows

    t = Table(title="DeviceCare demo", show_header=False)
    t.add_column("what", ratio=1, overflow="fold")
    t.add_column("figure", ratio=3, overflow="fold")
    for what, figure in rows(f):
        t.add_row(what, figure)
    return t
