"""`devicecare api`: serve the HTTP API, and manage its keys and customer tokens.

`devicecare api` alone serves (host, port and workers from DEVICECARE_API__*, or the
options); `devicecare api keys create|list|revoke` manages staff keys;
`devicecare api customer-token ID` prints a customer's own token.
"""

from __future__ import annotations

import uuid
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from devicecare.cli_context import settings_of

app = typer.Typer(
    help="The HTTP API (see docs/api.md): serve it, manage keys.",
    invoke_without_command=True,
    no_args_is_help=False,
)
keys = typer.Typer(
    help="Staff API keys: created (shown once), listed, revoked.", no_args_is_help=True
)
app.add_typer(keys, name="keys")
out = Console()


@app.callback()
def api(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default: DEVICECARE_API__HOST).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port (default: DEVICECARE_API__PORT).")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="Worker processes (default: DEVICECARE_API__WORKERS)."),
    ] = None,
) -> None:
    """Serve the HTTP API: devices, customers, timelines, triage, offers (docs/api.md)."""
    if ctx.invoked_subcommand is not None:
        return
    import os

    import uvicorn

    settings = settings_of(ctx)
    if "DEVICECARE_DATABASE_URL" not in os.environ:  # the app's factory loads it unfilled
        from devicecare.endpoints import database_url

        os.environ["DEVICECARE_DATABASE_URL"] = database_url(settings)
    uvicorn.run(
        "api.serve:app",
        factory=True,
        host=host or settings.api.host,
        port=port or settings.api.port,
        workers=workers or settings.api.workers,
        log_level="info",
    )


def _connect(ctx: typer.Context):  # noqa: ANN202 - psycopg is imported lazily
    import psycopg

    from devicecare.endpoints import database_url

    return psycopg.connect(database_url(settings_of(ctx)), autocommit=True)


@keys.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="Who or what uses the key, e.g. 'hotline team'.")],
    role: Annotated[str, typer.Option(help="support, engineer or admin.")],
) -> None:
    """Create a key and print it once; only its hash is stored."""
    from api.auth import STAFF_ROLES, Role, new_key
    from care import store

    if role not in {r.value for r in STAFF_ROLES}:
        raise typer.BadParameter("support, engineer or admin", param_hint="--role")
    if not 1 <= len(name) <= 100:  # noqa: PLR2004 - the column's limit
        raise typer.BadParameter("1 to 100 characters", param_hint="--name")
    secret = new_key()
    with _connect(ctx) as conn:
        key_id = store.add_key(conn, name, Role(role).value, secret)
        store.audit(conn, _now(), "cli", "key_created", f"api_key:{key_id}", role=role)
    out.print(f"key {key_id} ({role}): [bold]{secret}[/bold]", highlight=False)
    out.print("Store it now: it is not shown again.")


@keys.command("list")
def list_keys(ctx: typer.Context) -> None:
    """Keys with their role, creation, last use and revocation (never the key itself)."""
    from care import store

    with _connect(ctx) as conn:
        rows = store.list_keys(conn)
    table = Table()
    for column in ("key_id", "name", "role", "created_at", "last_used_at", "revoked_at"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[c] or "") for c in row))
    out.print(table)


@keys.command("revoke")
def revoke(ctx: typer.Context, key_id: Annotated[uuid.UUID, typer.Argument()]) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    from care import store

    with _connect(ctx) as conn:
        if not store.revoke_key(conn, key_id, _now()):
            raise typer.BadParameter(f"no active key {key_id}", param_hint="KEY_ID")
        store.audit(conn, _now(), "cli", "key_revoked", f"api_key:{key_id}")
    out.print(f"revoked {key_id}")


@app.command("customer-token")
def token(ctx: typer.Context, customer_id: Annotated[uuid.UUID, typer.Argument()]) -> None:
    """Print the customer's own token (their apps use it to read their own records)."""
    from api.auth import customer_token
    from notifier.signing import link_secret

    print(customer_token(link_secret(settings_of(ctx)), customer_id))


def _now():  # noqa: ANN202 - datetime is imported lazily
    from datetime import UTC, datetime

    return datetime.now(UTC)
