"""What the demo prints last: the exact commands to look at what it produced.

A newcomer's next question after the results table is "where is it?": the findings, the
offers and a device's timeline through the care API, the device's remote config, the
dashboards' queries, the support console and one owner's self-care page. The commands
name a real device of the run (one whose owner got an offer), and the stack is left
running, so the guide also says how to stop it.
"""

from __future__ import annotations

import uuid

import psycopg

from api.auth import customer_token
from devicecare.config import Settings
from devicecare.endpoints import database_url
from devstack import local
from notifier.signing import link_secret


def example_device(url: str) -> str | None:
    """A device whose owner got an offer (the most interesting timeline), else any device."""
    with psycopg.connect(url) as conn:
        row = (
            conn.execute(
                "SELECT device_id FROM offers WHERE sent_at IS NOT NULL ORDER BY sent_at LIMIT 1"
            ).fetchone()
            or conn.execute("SELECT device_id FROM devices ORDER BY 1 LIMIT 1").fetchone()
        )
    return row[0] if row else None


def owner_of(url: str, device_id: str) -> uuid.UUID | None:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT customer_id FROM devices WHERE device_id = %s", (device_id,)
        ).fetchone()
    return row[0] if row and row[0] else None


def guide(settings: Settings, url: str) -> str:
    """The commands, ready to paste; with `DEVICECARE_DATABASE_URL` set first when the demo
    used another database than the stack's own (no other command takes `--database`)."""
    device = example_device(url) or "DEVICE"
    lines = ["", "Explore what the demo produced (copy and paste):"]
    if url != database_url(local.fill(settings)):
        lines.append(f"  export DEVICECARE_DATABASE_URL='{url}'")
    lines += [
        f"  .venv/bin/devicecare config show --device {device}",
        f"  .venv/bin/devicecare dashboards check --device {device}",
        "  .venv/bin/devicecare api keys create --name demo --role support  # prints a key",
        "  .venv/bin/devicecare api &  # http://127.0.0.1:8000/docs",
        "  H='Authorization: Bearer dck_...'  # the key printed above",
        '  curl -s -H "$H" "localhost:8000/findings?limit=20"',
        '  curl -s -H "$H" "localhost:8000/offers?limit=20"',
        f'  curl -s -H "$H" "localhost:8000/devices/{device}/timeline?limit=50"',
        "",
        "With `devicecare api` running, the pages (docs/pages.md):",
        "  support console: http://127.0.0.1:8000/console  (log in with the key printed above)",
    ]
    owner = owner_of(url, device) if device != "DEVICE" else None
    if owner is not None:
        token = customer_token(link_secret(settings), owner)
        lines.append(f"  {device}'s owner: http://127.0.0.1:8000/care?token={token}")
    lines += [
        "",
        "The local stack (TimescaleDB, Mosquitto) is left running for this;",
        "`.venv/bin/devicecare stack down` stops it (`--purge` also deletes its data).",
    ]
    return "\n".join(lines)
