"""`devicecare config set|show|push`: remote configuration of the agents."""

from __future__ import annotations

import getpass
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from devicecare.cli_context import settings_of

app = typer.Typer(
    help="Remote configuration of the agents: layers for the fleet, a cohort or a device.",
    no_args_is_help=True,
)
out = Console()

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def _duration(value: str) -> timedelta:
    match = _DURATION.match(value.strip())
    if not match:
        raise typer.BadParameter(f"{value!r}: use a number and s, m, h or d, e.g. 6h")
    return timedelta(seconds=int(match[1]) * _UNIT_S[match[2]])


def _collectors(values: list[str]) -> dict[str, dict[str, Any]]:
    """`battery=30` sets an interval, `crash=off` / `crash=on` switches a collector."""
    collectors: dict[str, dict[str, Any]] = {}
    for value in values:
        name, _, setting = value.partition("=")
        if setting in ("off", "on"):
            collectors[name] = {"enabled": setting == "on"}
        elif setting.isdigit():
            collectors[name] = {"enabled": True, "interval_s": int(setting)}
        else:
            raise typer.BadParameter(f"{value!r}: use NAME=SECONDS, NAME=on or NAME=off")
    return collectors


@app.command("set")
def set_config(
    ctx: typer.Context,
    fleet: Annotated[bool, typer.Option("--fleet", help="Every device.")] = False,
    model: Annotated[str | None, typer.Option(help="A cohort: this model.")] = None,
    os_version: Annotated[
        str | None, typer.Option(help="With --model: only this OS version.")
    ] = None,
    device: Annotated[str | None, typer.Option(help="One device.")] = None,
    upload_interval: Annotated[
        int | None, typer.Option(help="Seconds between uploads (10 to 86400).")
    ] = None,
    collector: Annotated[
        list[str] | None,
        typer.Option(help="NAME=SECONDS, NAME=on or NAME=off; repeat for several."),
    ] = None,
    high_res: Annotated[
        int | None, typer.Option(help="Sample every N seconds for a while (needs --for).")
    ] = None,
    for_: Annotated[
        str | None, typer.Option("--for", help="How long high resolution lasts, e.g. 6h.")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why; kept with the revision.")] = None,
) -> None:
    """Add a configuration layer (a new revision) and send it to the devices it reaches."""
    import psycopg

    from devicecare.endpoints import database_url
    from deviceconfig import publish, store
    from deviceconfig.layers import Scope, validate

    scopes = [fleet, model is not None, device is not None]
    if sum(scopes) != 1:
        raise typer.BadParameter("give exactly one of --fleet, --model or --device")
    if os_version is not None and model is None:
        raise typer.BadParameter("--os-version needs --model")
    if (high_res is None) != (for_ is None):
        raise typer.BadParameter("--high-res and --for go together")
    now = datetime.now(UTC)
    settings_dict: dict[str, Any] = {}
    if upload_interval is not None:
        settings_dict["upload_interval_s"] = upload_interval
    if collector:
        settings_dict["collectors"] = _collectors(collector)
    if high_res is not None and for_ is not None:
        until = now + _duration(for_)
        settings_dict["high_res"] = {"until": int(until.timestamp() * 1000), "interval_s": high_res}
    if not settings_dict:
        raise typer.BadParameter(
            "nothing to set: give --upload-interval, --collector or --high-res"
        )
    validate(settings_dict)
    scope = Scope.FLEET if fleet else Scope.COHORT if model is not None else Scope.DEVICE
    settings = settings_of(ctx)
    with psycopg.connect(database_url(settings), autocommit=True) as conn:
        if device is not None and not store.targets(conn, Scope.DEVICE, device_id=device):
            raise typer.BadParameter(f"unknown device {device!r}", param_hint="--device")
        layer = store.add_layer(
            conn,
            scope,
            settings_dict,
            actor=getpass.getuser(),
            reason=reason,
            model=model,
            os_version=os_version,
            device_id=device,
        )
        sent = publish.apply(
            conn, settings, scope, at=now, model=model, os_version=os_version, device_id=device
        )
    out.print(f"revision {layer.revision} ({scope}): sent to {len(sent)} device(s)")


@app.command("push")
def push(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option(help="Send even to devices that have theirs.")] = False,
) -> None:
    """Send each device its effective config if it has not had it (e.g. newly enrolled)."""
    import psycopg

    from devicecare.endpoints import database_url
    from deviceconfig import publish
    from deviceconfig.layers import Scope

    settings = settings_of(ctx)
    with psycopg.connect(database_url(settings), autocommit=True) as conn:
        sent = publish.apply(conn, settings, Scope.FLEET, at=datetime.now(UTC), force=force)
    out.print(f"sent to {len(sent)} device(s)")


@app.command("show")
def show(
    ctx: typer.Context,
    device: Annotated[str, typer.Option(help="The device.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """A device's effective config, what it was sent, what it reports, and the layers."""
    import msgspec
    import psycopg

    from devicecare.endpoints import database_url
    from deviceconfig import store
    from deviceconfig.layers import Scope, effective

    with psycopg.connect(database_url(settings_of(ctx)), autocommit=True) as conn:
        found = store.targets(conn, Scope.DEVICE, device_id=device)
        if not found:
            raise typer.BadParameter(f"unknown device {device!r}", param_hint="--device")
        target = found[0]
        layered = store.layers_for(conn, found)
        now = datetime.now(UTC)
        config = effective(layered, device, target.model, target.os_version, now)
        layers = store.history(conn, target)
    report = {
        "device_id": device,
        "effective": msgspec.to_builtins(config) if config else None,
        "sent_revision": target.sent_revision,
        "reported_revision": target.reported_revision,
        "config_error": target.config_error,
        "layers": [
            {
                **la,
                "created_at": la["created_at"].isoformat(),
                "expires_at": la["expires_at"] and la["expires_at"].isoformat(),
            }
            for la in layers
        ],
    }
    if as_json:
        print(json.dumps(report, indent=2))
        return
    out.print(
        f"{device}: effective revision {config.revision if config else '-'}, "
        f"sent {target.sent_revision or '-'}, reported {target.reported_revision or '-'}"
    )
    if target.config_error:
        out.print(f"[red]the agent refused a config[/red]: {target.config_error}")
    table = Table("revision", "scope", "settings", "by", "reason")
    for la in layers:
        where = la["device_id"] or " ".join(filter(None, [la["model"], la["os_version"]]))
        table.add_row(
            str(la["revision"]),
            f"{la['scope']} {where}".strip(),
            json.dumps(la["settings"]),
            la["actor"],
            " ".join(filter(None, [la["reason"], _lifetime(la)])),
        )
    out.print(table)


def _lifetime(layer: dict[str, Any]) -> str | None:
    """A layer's end, for the table: ended by which revision, or applying until when."""
    if layer["ended_revision"] is not None:
        return f"(ended by revision {layer['ended_revision']})"
    if layer["expires_at"] is not None:
        return f"(until {layer['expires_at'].astimezone(UTC):%Y-%m-%d %H:%M} UTC)"
    return None
