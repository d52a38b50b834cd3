"""Devices and their owners as the notifier sees them, read at decision and at send time."""

from __future__ import annotations

from collections.abc import Iterable

import psycopg

from notifier.channels.base import Recipient

_SQL = (
    "SELECT d.device_id, d.model, d.consent_telemetry, d.consent_care_offers, d.consent_email,"
    " c.customer_id::text, c.name, c.email, c.locale, c.timezone"
    " FROM devices d LEFT JOIN customers c ON c.customer_id = d.customer_id"
    " WHERE d.device_id = ANY(%s)"
)


def load(conn: psycopg.Connection, device_ids: Iterable[str]) -> dict[str, Recipient]:
    rows = conn.execute(_SQL, (sorted(set(device_ids)),)).fetchall()
    return {row[0]: Recipient(*row) for row in rows}
