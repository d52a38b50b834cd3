"""`devicecare notify`: turn findings into care offers (implementation imported lazily)."""

from __future__ import annotations

import json
import signal
import threading
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console

from devicecare.cli_context import settings_of

out = Console()


def _when(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO 8601 time: {value!r}") from exc
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def notify(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Do one pass now, then exit.")] = False,
    at: Annotated[
        str | None,
        typer.Option(help="Do one pass as if it were this time (ISO 8601; UTC if no zone)."),
    ] = None,
    stats: Annotated[
        bool, typer.Option("--stats", help="Print the counts (JSON) and exit.")
    ] = False,
) -> None:
    """Turn findings into care offers, deliver them and follow the answers.

    Rules, consent, quiet hours, cooldown, caps and storm protection decide; offers go to
    the device, by e-mail or webhook. Loops until Ctrl-C / SIGTERM, woken by new findings
    and answers (LISTEN) or by a poll (DEVICECARE_NOTIFIER__POLL_INTERVAL_S). Settings and
    rules: docs/notifier.md.
    """
    from notifier.service import Notifier, wall_clock

    settings = settings_of(ctx)
    if stats:
        import psycopg

        from devicecare.endpoints import database_url
        from notifier.stats import counts

        with psycopg.connect(database_url(settings)) as conn:
            out.print_json(json.dumps(counts(conn).as_dict()))
        return
    notifier = Notifier(settings)
    when = _when(at)
    if once or when is not None:
        try:
            out.print(
                notifier.run_once(when or wall_clock()).summary(), highlight=False, soft_wrap=True
            )
        finally:
            notifier.close()
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    notifier.run(stop)
