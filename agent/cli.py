"""`devicecare agent`: run the device agent, and the owner's commands.

`devicecare agent enroll` lives with the development stack (devstack.cli), which the
command line adds to this group.

The owner's commands (consent, offers, respond) work on the agent's store directly, so
they also work while the agent is not running; the running agent picks the changes up
on its next turn and sends what they queued.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import msgspec
import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="The device agent and the owner's commands.", no_args_is_help=True)
consent_app = typer.Typer(help="The owner's consent: nothing is collected without it.")
app.add_typer(consent_app, name="consent")
out = Console()

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="Agent settings file (default: $DEVICECARE_AGENT_CONFIG or "
        ".devicecare/agent/agent.toml).",
    ),
]


@contextmanager
def _store(config: Path | None):  # noqa: ANN202 - a context manager of (settings, store)
    from agent.settings import load_agent_settings
    from agent.store import Store

    settings, path = load_agent_settings(config)
    store = Store(settings.state_path(path) / "agent.db", settings.queue_budget_bytes)
    try:
        yield settings, store
    finally:
        store.close()


@app.command()
def run(config: ConfigOption = None) -> None:
    """Collect with consent, queue on disk and stream to the broker until stopped.

    The command hands its process over to the lean daemon (`python -m agent`).
    """
    from agent.settings import load_agent_settings

    load_agent_settings(config)  # a bad setting fails here, with the CLI's message
    argv = [sys.executable, "-m", "agent", *(["--config", str(config)] if config else [])]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)  # noqa: S606 - our own interpreter and module


@consent_app.command("grant")
def consent_grant(
    config: ConfigOption = None,
    care_offers: Annotated[bool, typer.Option(help="Also receive care offers.")] = True,
    email: Annotated[bool, typer.Option(help="Also allow contact by e-mail.")] = True,
) -> None:
    """Opt in: telemetry, and care offers and e-mail unless turned off."""
    from agent.consent import Consent, record

    with _store(config) as (settings, store):
        record(store, settings.device_id, Consent(True, care_offers, email))
    out.print("consent granted: collection starts with the running agent")


@consent_app.command("revoke")
def consent_revoke(config: ConfigOption = None) -> None:
    """Opt out of everything: collection stops, the local queue is deleted, the server told."""
    from agent.consent import Consent, record

    with _store(config) as (settings, store):
        record(store, settings.device_id, Consent())
    out.print("consent withdrawn: local data deleted; the server is told at the next connection")


@consent_app.command("show")
def consent_show(config: ConfigOption = None) -> None:
    """Show what the owner consented to."""
    from agent.consent import Consent

    with _store(config) as (_settings, store):
        consent = Consent.load(store)
    for purpose in ("telemetry", "care_offers", "email"):
        out.print(f"{purpose}: {'yes' if getattr(consent, purpose) else 'no'}")


@app.command()
def offers(config: ConfigOption = None) -> None:
    """List the care offers this device received and their answers."""
    from devicecare.contracts import Offer

    with _store(config) as (_settings, store):
        rows = store.offers()
    table = Table("offer", "received", "severity", "title", "answer")
    for offer_id, body, received_ms, answer in rows:
        offer = msgspec.json.decode(body, type=Offer)
        when = datetime.fromtimestamp(received_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")
        table.add_row(offer_id, when, offer.severity.value, offer.title, answer or "-")
    out.print(table)


class Reply(StrEnum):
    ACCEPT = "accept"
    DISMISS = "dismiss"
    WRONG = "wrong"


@app.command()
def respond(
    offer_id: Annotated[str, typer.Argument(help="The offer, as `devicecare agent offers` lists.")],
    answer: Annotated[Reply, typer.Argument(help="accept, dismiss, or wrong (a false alarm).")],
    config: ConfigOption = None,
    comment: Annotated[str | None, typer.Option(help="A note for support.")] = None,
) -> None:
    """Answer a care offer; the agent sends the answer to the server."""
    from agent.outbox import Outbox
    from devicecare.contracts import Answer, Channel, OfferResponse, encode

    with _store(config) as (settings, store):
        if not store.answer_offer(offer_id, answer.value):
            raise typer.BadParameter(f"no offer {offer_id!r} on this device")
        response = OfferResponse(
            v=1,
            device_id=settings.device_id,
            offer_id=offer_id,
            answer=Answer(answer.value),
            ts=int(time.time() * 1000),
            comment=comment,
        )
        Outbox(store, settings.device_id).add_message(
            Channel.OFFER_RESPONSES, encode(response, compress=False)
        )
    out.print(f"answered {offer_id}: {answer.value}")


@app.command()
def status(config: ConfigOption = None) -> None:
    """The agent's queue and counters."""
    from agent.consent import Consent
    from agent.outbox import Outbox
    from devicecare.contracts import Channel

    with _store(config) as (settings, store):
        outbox = Outbox(store, settings.device_id)
        counters = store.counters()
        samples, events = outbox.queued(Channel.TELEMETRY), outbox.queued(Channel.EVENTS)
        consent = Consent.load(store)
        to_send = sum(outbox.unsent())
        size = outbox.size_bytes()
    out.print(f"device {settings.device_id}, telemetry consent: {consent.telemetry}")
    out.print(f"queued: {samples} samples, {events} events, {to_send} to send")
    out.print(f"queue size: {size} of {settings.queue_budget_bytes} bytes")
    for name, value in counters.items():
        out.print(f"{name}: {value}")
