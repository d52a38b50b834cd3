"""`devicecare ingest`: run one ingest worker (start several to share the load)."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from devicecare.cli_context import settings_of


def ingest(
    ctx: typer.Context,
    worker: Annotated[
        int,
        typer.Option(
            min=0,
            help="This worker's number on this host; it names the persistent MQTT session.",
        ),
    ] = 0,
) -> None:
    """Store device messages from MQTT in TimescaleDB: validated, exactly once, acked late."""
    from ingest.service import IngestService

    service = IngestService(settings_of(ctx), worker)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    service.run(stop)
