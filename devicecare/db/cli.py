"""`devicecare db`: schema migrations and maintenance (implementations imported lazily)."""

from __future__ import annotations

import typer
from rich.console import Console

from devicecare.cli_context import settings_of

app = typer.Typer(help="Schema migrations and maintenance.", no_args_is_help=True)
out = Console()


@app.command()
def migrate(ctx: typer.Context) -> None:
    """Apply pending migrations (idempotent); edition-specific parts follow the server."""
    from devicecare.db import migrate as migrations
    from devicecare.endpoints import database_url

    result = migrations.migrate(database_url(settings_of(ctx)))
    out.print(
        f"schema up to date (edition {result.edition}; "
        f"{len(result.applied)} applied now, {result.already} before)"
    )


@app.command()
def maintain(ctx: typer.Context) -> None:
    """Drop raw chunks past retention where the edition has no retention jobs (apache)."""
    from devicecare.db import migrate as migrations
    from devicecare.endpoints import database_url

    dropped = migrations.maintain(database_url(settings_of(ctx)))
    out.print(f"dropped {len(dropped)} chunk(s)")
