"""The `devicecare` command line; each command group lives with the code it drives."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

from agent.cli import app as agent_app
from api.cli import api
from demo.cli import demo
from detectors.cli import app as detect_app
from detectors.cli import eval_app
from devicecare import __version__
from devicecare.contracts.cli import app as contracts_app
from devicecare.db.cli import app as db_app
from devicecare.errors import ConfigError, DeviceCareError
from devicecare.stack.cli import app as stack_app
from ingest.cli import ingest
from notifier.cli import notify
from simulator.cli import simulate

app = typer.Typer(
    name="devicecare",
    help="DeviceCare: proactive device-health telemetry.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(stack_app, name="stack")
app.add_typer(db_app, name="db")
app.add_typer(contracts_app, name="contracts")
app.add_typer(agent_app, name="agent")
app.command(name="ingest")(ingest)
app.command(name="simulate")(simulate)
app.add_typer(detect_app, name="detect")
app.add_typer(eval_app, name="eval")
app.command(name="notify")(notify)
app.command(name="api")(api)
app.command(name="demo")(demo)

err = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        print(f"devicecare {__version__}")
        raise typer.Exit


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Settings come from DEVICECARE_* environment variables (see README)."""


def main() -> None:
    try:
        app()
    except ConfigError as exc:
        err.print(f"[red]configuration error[/red]: {exc}", highlight=False)
        sys.exit(2)
    except DeviceCareError as exc:
        err.print(f"[red]error[/red]: {exc}", highlight=False)
        sys.exit(1)
