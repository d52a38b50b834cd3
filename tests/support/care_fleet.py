"""A small fleet in the database for care API tests: two customers, a cohort of healthy
phones and one with a worn battery, with telemetry written by SQL (generate_series)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from api.auth import Role, customer_token, new_key
from care import store
from notifier.store import attach, create_customer
from tests.support.notifier_support import LINK_SECRET

END = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
"""The end of the telemetry (and the tests' clock)."""

SAMPLES = """
INSERT INTO samples (ts, device_id, seq, battery_pct, battery_charging, battery_temp_c,
                     battery_full_wh, battery_design_wh, battery_cycles, cpu_temp_c,
                     cpu_load_pct, thermal_throttled, storage_total_bytes, storage_free_bytes,
                     flash_wear_pct)
SELECT ts, %(device)s, 0, 60 - (extract(hour FROM ts)::int %% 12) * 3,
       extract(hour FROM ts) < 7, 30 + %(heat)s * (ts > %(onset)s)::int,
       %(design)s * (%(health)s - %(fade)s * greatest(0, extract(epoch FROM ts - %(onset)s))
                     / (30 * 86400)),
       %(design)s, 400, 40, 30, false, 128e9, 60e9, 10
FROM generate_series(%(end)s - INTERVAL '30 days', %(end)s - INTERVAL '15 minutes',
                     INTERVAL '15 minutes') AS ts
"""


@dataclass
class CareFleet:
    keys: dict[Role, str]
    alice: uuid.UUID
    bob: uuid.UUID
    alice_token: str
    bob_token: str
    worn: str = "phone-worn"
    healthy: str = "phone-00"
    bobs: str = "phone-bob"


def add_device(
    db: psycopg.Connection,
    device_id: str,
    owner: uuid.UUID | None,
    *,
    health: float = 0.95,
    fade: float = 0.0,
    heat: float = 0.0,
) -> None:
    db.execute(
        "INSERT INTO devices (device_id, model, os_name, os_version, consent_telemetry,"
        " consent_care_offers, consent_email, last_seen_at) VALUES"
        " (%s, 'Pixel 8', 'Android', '14', true, true, true, %s)",
        (device_id, END),
    )
    if owner is not None:
        attach(db, device_id, str(owner))
    onset = END.replace(day=1)
    db.execute(
        SAMPLES,
        {
            "device": device_id,
            "end": END,
            "onset": onset,
            "design": 17.0,
            "health": health,
            "fade": fade,
            "heat": heat,
        },
    )


def care_fleet(db: psycopg.Connection) -> CareFleet:
    alice = uuid.UUID(create_customer(db, name="Alice", email="alice@example.invalid"))
    bob = uuid.UUID(create_customer(db, name="Bob", email="bob@example.invalid"))
    for i in range(6):
        add_device(db, f"phone-{i:02d}", alice if i == 0 else None, health=0.9 + i * 0.01)
    add_device(db, "phone-worn", alice, health=0.86, fade=0.3)
    add_device(db, "phone-bob", bob)
    keys = {}
    for role in (Role.SUPPORT, Role.ENGINEER, Role.ADMIN):
        keys[role] = new_key()
        store.add_key(db, f"{role.value} key", role.value, keys[role])
    secret = LINK_SECRET.encode()
    return CareFleet(keys, alice, bob, customer_token(secret, alice), customer_token(secret, bob))
