"""`devicecare api`: serve the HTTP API with uvicorn (implementation imported lazily)."""

from __future__ import annotations

from typing import Annotated

import typer

from devicecare.cli_context import settings_of


def api(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
) -> None:
    """Serve the HTTP API: the care offers' answer links (see docs/notifier.md)."""
    import uvicorn

    from api.app import create_app

    uvicorn.run(create_app(settings_of(ctx)), host=host, port=port, log_level="info")
