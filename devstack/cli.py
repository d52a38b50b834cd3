"""`devicecare stack`: start, stop and inspect the project-local services.

Implementation modules are imported inside the commands, so that loading the CLI stays
cheap for commands of other groups (see devicecare.cli_context).
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from agent.cli import ConfigOption
from devicecare.cli_context import settings_of

if TYPE_CHECKING:
    from devstack.local import ServiceStatus

app = typer.Typer(help="The project-local TimescaleDB and Mosquitto.", no_args_is_help=True)
out = Console()


@app.command()
def up(ctx: typer.Context) -> None:
    """Start the local PostgreSQL+TimescaleDB and Mosquitto (a no-op when they run)."""
    from devstack import local
    from devstack.state import state_file

    settings = settings_of(ctx)
    local.up(settings)
    _print_status(local.status(settings))
    out.print(f"connection details: {state_file(settings)}")


@app.command()
def down(
    ctx: typer.Context,
    purge: Annotated[bool, typer.Option(help="Also delete the stack's data.")] = False,
    only: Annotated[
        list[str] | None, typer.Option(help="Stop only this service: postgres or mosquitto.")
    ] = None,
) -> None:
    """Stop exactly the servers `up` started, by PID."""
    from devstack import local

    unknown = set(only or ()) - set(local.SERVICES)
    if unknown:
        raise typer.BadParameter(f"unknown service(s): {', '.join(sorted(unknown))}")
    stopped = local.down(settings_of(ctx), purge=purge, only=only or local.SERVICES)
    out.print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@app.command()
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Health of both services and the TimescaleDB edition; exit 1 when one is unhealthy."""
    from devstack import local

    services = local.status(settings_of(ctx))
    if as_json:
        print(json.dumps([asdict(s) for s in services]))
    else:
        _print_status(services)
    if not all(s.healthy for s in services):
        raise typer.Exit(1)


@app.command()
def provision(
    ctx: typer.Context,
    device_ids: Annotated[list[str], typer.Argument(help="Device ids to give MQTT accounts.")],
) -> None:
    """Create MQTT accounts on the local broker and print their credentials as JSON."""
    from devstack import local

    print(json.dumps(local.provision_devices(settings_of(ctx), device_ids)))


def enroll(
    ctx: typer.Context,
    device_id: Annotated[
        str | None, typer.Option(help="Device id (default: this machine's host name).")
    ] = None,
    config: ConfigOption = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing settings file.")] = False,
) -> None:
    """Give this machine a device account on the local stack and write the agent's settings.

    Registered as `devicecare agent enroll` by the command line: the agent itself knows
    nothing of the development stack.
    """
    from agent.settings import config_path
    from devstack import local
    from devstack.state import read_state

    path = config or config_path()
    if path.exists() and not force:
        raise typer.BadParameter(f"{path} exists; use --force to replace it")
    device = device_id or re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname()).lstrip("_-.")
    settings = settings_of(ctx)
    password = local.provision_devices(settings, [device])[device]
    state = read_state(settings)
    assert state is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"device_id = {json.dumps(device)}\n"
        f"mqtt_url = {json.dumps(state['mosquitto']['url'])}\n"
        f"password = {json.dumps(password)}\n"
    )
    path.chmod(0o600)
    out.print(f"enrolled {device}; settings in {path}")


def _print_status(services: list[ServiceStatus]) -> None:
    """Three columns, the address above the detail, so that the table stays readable in an
    80-column terminal (the detail wraps at words; the address is never cut)."""
    table = Table("service", "state", "address, detail")
    for s in services:
        state = "[green]up[/green]" if s.healthy else "[red]down[/red]"
        if s.pid:
            state += f"\npid {s.pid}"
        table.add_row(s.service, state, f"{s.where}\n{s.detail}")
    out.print(table)


CONTAINER_PLUGIN = Path("/usr/lib/mosquitto_dynamic_security.so")
"""Where the eclipse-mosquitto image keeps the dynamic-security plugin."""


@app.command("broker-files")
def broker_files(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the two files.")],
    listener: Annotated[str, typer.Option(help="Mosquitto's listener line.")] = "1883",
    plugin: Annotated[Path, typer.Option(help="The dynamic-security plugin.")] = CONTAINER_PLUGIN,
    data: Annotated[Path, typer.Option(help="The broker's persistence folder.")] = Path(
        "/mosquitto/data"
    ),
) -> None:
    """Write a deployed broker's mosquitto.conf and dynamic-security.json (docker compose).

    The same settings and access rules as the local stack; the service accounts' passwords
    come from MQTT_INGEST_PASSWORD, MQTT_NOTIFIER_PASSWORD, MQTT_MONITOR_PASSWORD and
    MQTT_ADMIN_PASSWORD. Devices are added later through the admin account.
    """
    import os

    from devicecare.contracts.accounts import ServiceAccount
    from devstack.mosquitto import broker_conf, password_variable, write_security

    env = {a: password_variable(a) for a in ServiceAccount}
    missing = sorted(name for name in env.values() if not os.environ.get(name))
    if missing:
        raise typer.BadParameter(f"set {', '.join(missing)}", param_hint="environment")
    out_dir.mkdir(parents=True, exist_ok=True)
    security = out_dir / "dynamic-security.json"
    (out_dir / "mosquitto.conf").write_text(
        "# generated by `devicecare stack broker-files`\n"
        + broker_conf(listener, plugin, security, data)
    )
    write_security(security, {a.value: os.environ[n] for a, n in env.items()}, {})
    out.print(f"broker files written to {out_dir}")
