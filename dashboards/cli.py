"""`devicecare dashboards`: build, check, push, and refresh the rollups they read."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from devicecare.cli_context import settings_of

app = typer.Typer(help="Grafana dashboards as code.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


@app.command()
def build(
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder for the JSON (default dashboards/json).")
    ] = None,
) -> None:
    """Regenerate the dashboards' JSON from the code."""
    from dashboards import catalog

    for path in catalog.build(out_dir or catalog.JSON_DIR):
        out.print(f"wrote {path}")


@app.command()
def check(
    ctx: typer.Context,
    json_dir: Annotated[
        Path | None, typer.Option("--dir", help="Folder of dashboard JSON (default: ours).")
    ] = None,
    device: Annotated[
        str | None, typer.Option(help="Device for the device dashboard (default: the first).")
    ] = None,
) -> None:
    """Run every panel's SQL, as Grafana would, against the configured database."""
    import psycopg

    from dashboards import catalog, checks
    from devicecare.endpoints import database_url

    dashboards = catalog.load(json_dir or catalog.JSON_DIR)
    problems = checks.structure(dashboards)
    with psycopg.connect(database_url(settings_of(ctx)), autocommit=True) as conn:
        runs = checks.run(conn, dashboards, overrides={"device": device} if device else None)
    problems += checks.problems(runs, need_rows=False)
    for run in runs:
        out.print(f"{run.ms:8.1f} ms  {run.rows:6d} rows  {run.dashboard} / {run.item}")
    for problem in problems:
        err.print(f"[red]FAIL[/red] {problem}", highlight=False)
    if problems:
        raise typer.Exit(1)
    out.print(f"{len(runs)} queries in {len(dashboards)} dashboards: all ran")


@app.command()
def push(
    url: Annotated[str, typer.Option(help="Grafana's base URL, e.g. http://localhost:3000.")],
    token: Annotated[
        str, typer.Option(envvar="GRAFANA_TOKEN", help="Service-account token (or GRAFANA_TOKEN).")
    ],
    force: Annotated[
        bool, typer.Option(help="Overwrite same-uid dashboards this command did not create.")
    ] = False,
) -> None:
    """Upload the dashboards to an existing Grafana (folder DeviceCare, overwrite by uid)."""
    from dashboards import catalog
    from dashboards import push as pusher

    for pushed in pusher.push(url, token, catalog.load(), force=force):
        out.print(f"pushed {pushed.uid} ({pushed.title}), version {pushed.version}")


@app.command("refresh-rollups")
def refresh_rollups(
    ctx: typer.Context,
    full: Annotated[bool, typer.Option(help="Recompute every day, not only new data.")] = False,
    every: Annotated[
        float | None, typer.Option(help="Repeat every so many seconds (a long-running job).")
    ] = None,
) -> None:
    """Refresh the rollup tables the fleet dashboards read (both editions)."""
    import psycopg

    from dashboards import rollups
    from devicecare.endpoints import database_url

    url = database_url(settings_of(ctx))
    while True:
        with psycopg.connect(url, autocommit=True) as conn:
            done = rollups.refresh(conn, full=full)
        out.print(f"rollups refreshed: {done.batches} new batches, from {done.start}")
        if every is None:
            return
        full = False
        time.sleep(every)
