"""Storm protection: when an unusual share of the fleet would get the same offer kind
within the storm window, those offers are held and engineers get one fleet alert.

Counted per offer kind: distinct devices whose candidate findings were detected in the
window, plus devices that already got (or were held from) that offer kind in the window.
It trips at `storm_min_devices` devices and `storm_share` of the fleet (all registered
devices). While the alert is open every new offer of that kind is held too. An engineer
closes it with `release` (held offers go out at the next pass, and the kind is not
counted again for one window) or `dismiss` (held offers are dropped).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import psycopg
from psycopg.types.json import Jsonb

log = logging.getLogger(__name__)


def open_alert(conn: psycopg.Connection, offer_kind: str) -> int | None:
    row = conn.execute(
        "SELECT alert_id FROM fleet_alerts WHERE kind = 'offer_storm' AND offer_kind = %s"
        " AND status = 'open'",
        (offer_kind,),
    ).fetchone()
    return row[0] if row else None


def released_since(conn: psycopg.Connection, offer_kind: str, since: datetime) -> bool:
    row = conn.execute(
        "SELECT 1 FROM fleet_alerts WHERE kind = 'offer_storm' AND offer_kind = %s"
        " AND status = 'released' AND closed_at > %s LIMIT 1",
        (offer_kind, since),
    ).fetchone()
    return row is not None


def devices_in_window(
    conn: psycopg.Connection, offer_kind: str, since: datetime, now: datetime
) -> set[str]:
    """Devices that got or were held from this offer kind within the window."""
    rows = conn.execute(
        "SELECT device_id FROM offers WHERE kind = %(kind)s AND created_at > %(since)s"
        " AND created_at <= %(now)s UNION SELECT device_id FROM offer_suppressions"
        " WHERE reason = 'storm' AND offer_kind = %(kind)s AND ts > %(since)s AND ts <= %(now)s",
        {"kind": offer_kind, "since": since, "now": now},
    ).fetchall()
    return {r[0] for r in rows}


def fleet_size(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM devices").fetchone()[0]  # type: ignore[index]


def raise_alert(
    conn: psycopg.Connection,
    *,
    offer_kind: str,
    now: datetime,
    devices: int,
    fleet: int,
    window: timedelta,
    fault_kinds: list[str],
) -> int:
    share = devices / fleet if fleet else 1.0
    summary = (
        f"offer storm: {devices} of {fleet} devices ({share:.1%}) would get "
        f"'{offer_kind}' within {window}; those offers are held"
    )
    log.warning("%s", summary)
    row = conn.execute(
        "INSERT INTO fleet_alerts (kind, offer_kind, raised_at, devices, fleet, summary, detail)"
        " VALUES ('offer_storm', %s, %s, %s, %s, %s, %s) RETURNING alert_id",
        (
            offer_kind,
            now,
            devices,
            fleet,
            summary,
            Jsonb({"fault_kinds": sorted(set(fault_kinds)), "window_s": window.total_seconds()}),
        ),
    ).fetchone()
    return row[0]  # type: ignore[index]


def add_held(conn: psycopg.Connection, alert_id: int, held: int) -> None:
    conn.execute(
        "UPDATE fleet_alerts SET devices = devices + %s WHERE alert_id = %s", (held, alert_id)
    )


def release(conn: psycopg.Connection, alert_id: int, now: datetime) -> int:
    """Engineers say go: the held offers are made at the next pass. Returns how many."""
    with conn.transaction():
        conn.execute(
            "UPDATE fleet_alerts SET status = 'released', closed_at = %s"
            " WHERE alert_id = %s AND status = 'open'",
            (now, alert_id),
        )
        cur = conn.execute(
            "UPDATE notifier_decisions d SET recheck_at = %s FROM offer_suppressions s"
            " WHERE s.alert_id = %s AND s.finding_id = d.finding_id"
            " AND d.outcome = 'suppressed' AND d.reason = 'storm'",
            (now, alert_id),
        )
        return cur.rowcount


def dismiss(conn: psycopg.Connection, alert_id: int, now: datetime) -> None:
    """Engineers say no: the held offers are not made (their findings stay suppressed)."""
    conn.execute(
        "UPDATE fleet_alerts SET status = 'dismissed', closed_at = %s"
        " WHERE alert_id = %s AND status = 'open'",
        (now, alert_id),
    )
