"""The `devicecare` command line; each command group lives with the code it drives.

The one place above every package: it composes their commands, and it fills the
settings from the local development stack (services themselves read URLs from the
settings only).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from agent.cli import app as agent_app
from api.cli import app as api_app
from dashboards.cli import app as dashboards_app
from demo.cli import demo
from detectors.cli import app as detect_app
from detectors.cli import backtest, evaluate, feedback
from devicecare import __version__
from devicecare.cli_context import FILL_SETTINGS
from devicecare.contracts.cli import app as contracts_app
from devicecare.db.cli import app as db_app
from devicecare.errors import ConfigError, DeviceCareError
from deviceconfig.cli import app as config_app
from devstack.cli import app as stack_app
from devstack.cli import enroll
from ingest.cli import ingest
from notifier.cli import notify
from simulator.cli import simulate
from triagelab.cli import triage as triage_eval

if TYPE_CHECKING:
    from devicecare.config import Settings

app = typer.Typer(
    name="devicecare",
    help="DeviceCare: proactive device-health telemetry.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(stack_app, name="stack")
app.add_typer(db_app, name="db")
app.add_typer(contracts_app, name="contracts")
agent_app.command()(enroll)
app.add_typer(agent_app, name="agent")
app.add_typer(config_app, name="config")
app.command(name="ingest")(ingest)
app.command(name="simulate")(simulate)
app.add_typer(detect_app, name="detect")
eval_app = typer.Typer(
    help="Score detectors (`--truth`), backtest them on a simulator split (`eval backtest`),"
    " list the verdicts on findings they learn from (`eval feedback`),"
    " or score repair triage (`eval triage`) against the truth.",
    invoke_without_command=True,
)


@eval_app.callback()
def eval_root(
    ctx: typer.Context,
    truth: Annotated[
        Path | None, typer.Option(help="Ground truth from `devicecare simulate --truth`.")
    ] = None,
    json_file: Annotated[
        Path | None, typer.Option("--json", help="Also write the figures as one JSON object.")
    ] = None,
) -> None:
    """Without a subcommand: score the stored findings of a simulated run (see `evaluate`)."""
    if ctx.invoked_subcommand is not None:
        return
    if truth is None:
        raise typer.BadParameter("required without a subcommand", param_hint="--truth")
    evaluate(ctx, truth=truth, json_file=json_file)


eval_app.command(name="backtest")(backtest)
eval_app.command(name="feedback")(feedback)
eval_app.command(name="triage")(triage_eval)
app.add_typer(eval_app, name="eval")
app.command(name="notify")(notify)
app.add_typer(api_app, name="api")
app.command(name="demo")(demo)
app.add_typer(dashboards_app, name="dashboards")

err = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        print(f"devicecare {__version__}")
        raise typer.Exit


@app.callback()
def root(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Settings come from DEVICECARE_* environment variables (see README)."""
    ctx.meta[FILL_SETTINGS] = _from_local_stack


def _from_local_stack(settings: Settings) -> Settings:
    """Unconfigured URLs taken from the local stack, when it runs."""
    from devstack import local

    return local.fill(settings)


def main() -> None:
    try:
        app()
    except ConfigError as exc:
        err.print(f"[red]configuration error[/red]: {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except DeviceCareError as exc:
        err.print(f"[red]error[/red]: {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
