"""Customers: who owns a device, in which language and time zone they are reached.

`create_customer` and `attach` are what an onboarding flow (or a test) uses;
`assign_owners` gives simulated devices plausible owners, deterministically and once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import psycopg

DEFAULT_LOCALES = ("en", "de")
DEFAULT_TIMEZONES = ("Europe/Berlin", "Europe/London", "America/New_York", "Asia/Tokyo")


def create_customer(
    conn: psycopg.Connection,
    *,
    name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    locale: str = "en",
    timezone: str = "UTC",
    external_ref: str | None = None,
) -> str:
    """A new customer (or the one with this `external_ref`); returns its id."""
    row = conn.execute(
        "INSERT INTO customers (external_ref, name, email, phone, locale, timezone)"
        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (external_ref) DO UPDATE"
        " SET external_ref = EXCLUDED.external_ref RETURNING customer_id::text",
        (external_ref, name, email, phone, locale, timezone),
    ).fetchone()
    return row[0]  # type: ignore[index]


def attach(conn: psycopg.Connection, device_id: str, customer_id: str) -> None:
    """Make the customer the device's owner (the device row must exist)."""
    cur = conn.execute(
        "UPDATE devices SET customer_id = %s WHERE device_id = %s", (customer_id, device_id)
    )
    if cur.rowcount != 1:
        raise LookupError(f"no device {device_id!r}")


def assign_owners(
    conn: psycopg.Connection,
    device_ids: Iterable[str],
    *,
    locales: Sequence[str] = DEFAULT_LOCALES,
    timezones: Sequence[str] = DEFAULT_TIMEZONES,
    email_domain: str | None = "example.invalid",
) -> dict[str, str]:
    """One customer per device that has none, with locale and time zone taken round-robin
    in device-id order and an address `<device_id>@<email_domain>` (None: no e-mail).
    Devices that have an owner keep it. Returns device id -> customer id for all of them."""
    ids = sorted(set(device_ids))
    owned = dict(
        conn.execute(
            "SELECT device_id, customer_id::text FROM devices"
            " WHERE device_id = ANY(%s) AND customer_id IS NOT NULL",
            (ids,),
        ).fetchall()
    )
    with conn.transaction():
        for index, device_id in enumerate(ids):
            if device_id in owned:
                continue
            owned[device_id] = create_customer(
                conn,
                name=f"Owner of {device_id}",
                email=f"{device_id}@{email_domain}" if email_domain else None,
                locale=locales[index % len(locales)],
                timezone=timezones[index % len(timezones)],
                external_ref=f"owner:{device_id}",
            )
            attach(conn, device_id, owned[device_id])
    return owned
