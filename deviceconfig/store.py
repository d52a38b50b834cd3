"""What remote configuration keeps in TimescaleDB: layers, and what was sent to whom."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row, dict_row
from psycopg.types.json import Jsonb

from devicecare.contracts.vocabulary import TouchPoint
from deviceconfig.layers import Layer, Scope


@dataclass(frozen=True, slots=True)
class Target:
    """A device a layer reaches, with what it last got and what it reports."""

    device_id: str
    model: str | None
    os_version: str | None
    sent_revision: int | None
    reported_revision: int | None
    config_error: str | None


_TARGETS = """
SELECT d.device_id, d.model, d.os_version, s.revision AS sent_revision,
       (d.status_detail->>'config_revision')::bigint AS reported_revision,
       d.status_detail->>'config_error' AS config_error
FROM devices d LEFT JOIN device_config_sent s USING (device_id)
WHERE (%(scope)s = 'fleet')
   OR (%(scope)s = 'cohort' AND d.model = %(model)s
       AND (%(os_version)s::text IS NULL OR d.os_version = %(os_version)s))
   OR (%(scope)s = 'device' AND d.device_id = %(device_id)s)
ORDER BY d.device_id
"""


def add_layer(
    conn: psycopg.Connection,
    scope: Scope,
    settings: dict[str, Any],
    *,
    actor: str,
    reason: str | None = None,
    model: str | None = None,
    os_version: str | None = None,
    device_id: str | None = None,
    expires_at: datetime | None = None,
    at: datetime | None = None,
) -> Layer:
    """A new layer (revision), set at `at` (default: the database's clock), applying until
    `expires_at` (default: until a later layer overrides it)."""
    row = conn.execute(
        "INSERT INTO device_config_layers (scope, model, os_version, device_id, settings,"
        " actor, reason, expires_at, created_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, coalesce(%s, now())) RETURNING revision",
        (
            scope.value,
            model,
            os_version,
            device_id,
            Jsonb(settings),
            actor,
            reason,
            expires_at,
            at,
        ),
    ).fetchone()
    assert row is not None
    return Layer(row[0], scope, settings, model, os_version, device_id, expires_at)


def end_layer(conn: psycopg.Connection, revision: int, at: datetime) -> int | None:
    """End a layer at `at` (its expiry, or earlier): its settings stop applying and the end
    takes a new revision, returned; None when it had already ended."""
    row = conn.execute(
        "UPDATE device_config_layers SET ended_at = %s, expires_at = least(expires_at, %s),"
        " ended_revision = nextval(pg_get_serial_sequence('device_config_layers', 'revision'))"
        " WHERE revision = %s AND ended_revision IS NULL RETURNING ended_revision",
        (at, at, revision),
    ).fetchone()
    return None if row is None else int(row[0])


def layers_for(conn: psycopg.Connection, targets: list[Target]) -> list[Layer]:
    """Every layer that may apply to one of `targets` (fleet, their cohorts, themselves)."""
    rows = conn.execute(
        "SELECT revision, scope, settings, model, os_version, device_id, expires_at,"
        " ended_revision FROM device_config_layers"
        " WHERE scope = 'fleet' OR model = ANY(%s) OR device_id = ANY(%s)",
        ([t.model for t in targets if t.model], [t.device_id for t in targets]),
    ).fetchall()
    return [Layer(r[0], Scope(r[1]), r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows]


def targets(
    conn: psycopg.Connection,
    scope: Scope,
    *,
    model: str | None = None,
    os_version: str | None = None,
    device_id: str | None = None,
) -> list[Target]:
    """The known devices in a scope."""
    params = {
        "scope": scope.value,
        "model": model,
        "os_version": os_version,
        "device_id": device_id,
    }
    with conn.cursor(row_factory=class_row(Target)) as cur:
        return cur.execute(_TARGETS, params).fetchall()


def record_sent(conn: psycopg.Connection, device_id: str, revision: int, at: datetime) -> None:
    """Remember the publication and put it on the device's timeline."""
    conn.execute(
        "INSERT INTO device_config_sent (device_id, revision, sent_at) VALUES (%s, %s, %s)"
        " ON CONFLICT (device_id) DO UPDATE SET revision = excluded.revision,"
        " sent_at = excluded.sent_at",
        (device_id, revision, at),
    )
    conn.execute(
        "INSERT INTO interactions (ts, customer_id, device_id, touchpoint, kind, actor, summary,"
        " detail) SELECT %s, customer_id, device_id, %s, 'config_sent', 'service', %s, %s"
        " FROM devices WHERE device_id = %s",
        (
            at,
            TouchPoint.SYSTEM.value,
            f"configuration revision {revision} sent to the device",
            Jsonb({"revision": revision}),
            device_id,
        ),
    )


def history(conn: psycopg.Connection, target: Target) -> list[dict[str, Any]]:
    """The layers that apply to one device, newest first, for `config show`."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT revision, scope, model, os_version, device_id, settings, actor, reason,"
            " created_at, expires_at, ended_revision FROM device_config_layers"
            " WHERE scope = 'fleet' OR device_id = %s"
            " OR (scope = 'cohort' AND model = %s AND (os_version IS NULL OR os_version = %s))"
            " ORDER BY revision DESC",
            (target.device_id, target.model, target.os_version),
        ).fetchall()
