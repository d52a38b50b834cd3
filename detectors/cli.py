"""`devicecare detect`: streaming detectors (implementations imported lazily)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    help="Streaming detectors: live detection, replay and backtests.", no_args_is_help=True
)
out = Console()


@app.command()
def replay(
    csv: Annotated[
        Path, typer.Option("--csv", help="Series to score: timestamp plus value column(s).")
    ],
    out_file: Annotated[
        Path, typer.Option("--out", help="Where to write timestamp,value(s),anomaly_score.")
    ],
    profile: Annotated[
        str, typer.Option(help="Detector profile ('devicecare detect profiles' lists them).")
    ] = "default",
    column: Annotated[
        list[str] | None,
        typer.Option(help="Value column to score; repeat for several (default: value)."),
    ] = None,
) -> None:
    """Score a historical series with the same detectors as the live path."""
    import time

    from detectors.replay import replay_csv

    started = time.perf_counter()
    rows = replay_csv(csv, out_file, profile, column)
    elapsed = time.perf_counter() - started
    out.print(f"scored {rows} rows with profile {profile} in {elapsed:.2f} s -> {out_file}")


@app.command()
def profiles() -> None:
    """List the detector profiles that replay (and the live service) can use."""
    from detectors.profiles import PROFILES

    for profile in PROFILES.values():
        out.print(f"{profile.name:10s} {profile.description}", highlight=False)
