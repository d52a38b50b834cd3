"""Storm protection: when an unusual share of the fleet would get the same offer kind
within the storm window, those offers are held and engineers get one fleet alert.

Counted per offer kind: distinct devices whose candidate findings were detected in the
window, plus devices that already got (or were held from) that offer kind in the window.
It trips at `storm_min_devices` devices and `storm_share` of the fleet (all registered
devices). While the alert is open every new offer of that kind is held too. An engineer
closes it with `release` (held offers go out at the next pass, and the kind is not
counted again for one window) or `dismiss` (held offers are dropped).

`tripped` and `alert_summary` are the pure decision; the rows come from `notifier.store`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import psycopg

from notifier import store

log = logging.getLogger(__name__)


def tripped(devices: int, fleet: int, *, min_devices: int, share: float) -> bool:
    """Whether `devices` of a fleet of `fleet` getting one offer kind is a storm."""
    return devices >= min_devices and devices >= share * fleet


def alert_summary(offer_kind: str, devices: int, fleet: int, window: timedelta) -> str:
    """The alert's sentence for engineers."""
    share = devices / fleet if fleet else 1.0
    return (
        f"offer storm: {devices} of {fleet} devices ({share:.1%}) would get "
        f"'{offer_kind}' within {window}; those offers are held"
    )


def release(conn: psycopg.Connection, alert_id: int, now: datetime) -> int:
    """Engineers say go: the held offers are made at the next pass. Returns how many."""
    with conn.transaction():
        store.close_alert(conn, alert_id, "released", now)
        return store.recheck_held(conn, alert_id, now)


def dismiss(conn: psycopg.Connection, alert_id: int, now: datetime) -> None:
    """Engineers say no: the held offers are not made (their findings stay suppressed)."""
    store.close_alert(conn, alert_id, "dismissed", now)
