"""The care API's SQL: every query is a named constant here, and each function returns
typed rows (dataclasses or plain dicts of JSON-ready values).

Nothing here decides anything: verdicts and percentiles are computed in `care.triage`
and `care.figures`. Windows are half-open `[since, until)` in the database's time.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from care.figures import Figures
from devicecare.errors import DeviceCareError


class BadCursorError(DeviceCareError):
    """A pagination cursor this API did not hand out."""


def encode_cursor(*values: object) -> str:
    """An opaque cursor holding the sort key of the last row of a page."""
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadCursorError("not a cursor of this API") from exc
    if not isinstance(values, list) or len(values) != arity:
        raise BadCursorError("not a cursor of this API")
    return values


# --- devices -------------------------------------------------------------------------

DEVICE = """
SELECT d.device_id, d.customer_id, d.model, d.os_name, d.os_version, d.agent_version,
       d.status, d.last_seen_at, d.registered_at, d.consent_telemetry, d.consent_care_offers,
       d.consent_email, d.consent_changed_at,
       (SELECT max(ts) FROM samples s WHERE s.device_id = d.device_id) AS data_at
FROM devices d WHERE d.device_id = %s
"""

LIST_DEVICES = """
SELECT d.device_id, d.customer_id, d.model, d.os_name, d.os_version, d.agent_version,
       d.status, d.last_seen_at, d.consent_telemetry,
       (h.figures ->> 'battery_health_pct')::float8 AS battery_health_pct,
       coalesce(h.open_findings, '{}') AS open_findings
FROM devices d LEFT JOIN device_health h USING (device_id)
WHERE (%(model)s::text IS NULL OR d.model = %(model)s)
  AND (%(os_version)s::text IS NULL OR d.os_version = %(os_version)s)
  AND (%(customer_id)s::uuid IS NULL OR d.customer_id = %(customer_id)s)
  AND (%(finding_kind)s::text IS NULL OR EXISTS (
        SELECT 1 FROM findings f WHERE f.device_id = d.device_id AND f.status = 'open'
        AND f.fault_kind = %(finding_kind)s))
  AND (%(health_below)s::float8 IS NULL
       OR (h.figures ->> 'battery_health_pct')::float8 < %(health_below)s)
  AND (%(silent_since)s::timestamptz IS NULL OR d.last_seen_at IS NULL
       OR d.last_seen_at < %(silent_since)s)
  AND (%(after)s::text IS NULL OR d.device_id > %(after)s)
ORDER BY d.device_id
LIMIT %(limit)s
"""

COHORT_MEMBERS = """
SELECT device_id FROM devices
WHERE model IS NOT DISTINCT FROM %s AND os_version IS NOT DISTINCT FROM %s
"""

FIRST_SAMPLE = "SELECT min(ts) FROM samples WHERE device_id = %s AND ts >= %s AND ts < %s"

FIGURES = """
WITH s AS (
    SELECT device_id, ts, battery_pct, battery_charging, battery_temp_c, battery_full_wh,
           battery_design_wh, battery_cycles, cpu_temp_c, cpu_load_pct, thermal_throttled,
           storage_total_bytes, storage_free_bytes, flash_wear_pct,
           lag(battery_pct) OVER w AS prev_pct,
           lag(battery_charging) OVER w AS prev_charging,
           extract(epoch FROM ts - lag(ts) OVER w)::float8 / 3600 AS gap_h
    FROM samples
    WHERE device_id = ANY(%(ids)s) AND ts >= %(since)s AND ts < %(until)s
    WINDOW w AS (PARTITION BY device_id ORDER BY ts)
), d AS (
    SELECT *, NOT battery_charging AND NOT prev_charging AND gap_h > 0 AND gap_h <= 0.5
              AS draining
    FROM s
)
SELECT device_id,
       count(*)::int,
       avg(battery_full_wh / NULLIF(battery_design_wh, 0)) * 100,
       max(battery_cycles)::float8,
       avg(battery_temp_c) FILTER (WHERE NOT battery_charging),
       avg(battery_temp_c) FILTER (WHERE battery_charging),
       avg(cpu_temp_c),
       avg(cpu_load_pct),
       avg(thermal_throttled::int::float8),
       last(storage_free_bytes::float8 / NULLIF(storage_total_bytes, 0), ts) * 100,
       regr_slope(storage_free_bytes, extract(epoch FROM ts)::float8) * 86400 / 1e9,
       max(flash_wear_pct),
       avg((prev_pct - battery_pct) / gap_h) FILTER (WHERE draining),
       count(*) FILTER (WHERE draining AND prev_pct - battery_pct > 12)::int
FROM d GROUP BY device_id
"""

CRASHES = """
SELECT device_id,
       count(*) FILTER (WHERE kind IN ('app_crash', 'native_crash'))::int,
       count(*) FILTER (WHERE kind IN ('kernel_panic', 'kernel_oops'))::int,
       count(DISTINCT date_trunc('hour', ts)) FILTER (WHERE kind <> 'reboot')::int
FROM events
WHERE device_id = ANY(%(ids)s) AND ts >= %(since)s AND ts < %(until)s
GROUP BY device_id
"""

CRASH_HOURS = """
SELECT count(DISTINCT date_trunc('hour', ts))::int FROM events
WHERE device_id = %s AND ts >= %s AND ts < %s AND kind <> 'reboot'
"""

TOP_SIGNATURE = """
SELECT DISTINCT ON (device_id) device_id, signature,
       mode() WITHIN GROUP (ORDER BY app_version), count(*)::int
FROM events
WHERE device_id = ANY(%(ids)s) AND ts >= %(since)s AND ts < %(until)s
  AND kind IN ('app_crash', 'native_crash') AND signature IS NOT NULL
GROUP BY device_id, signature
ORDER BY device_id, count(*) DESC, signature
"""

SIGNATURE_DEVICES = """
SELECT count(DISTINCT e.device_id)::int FROM events e JOIN devices d USING (device_id)
WHERE e.signature = %s AND e.ts >= %s AND e.ts < %s
  AND d.model IS NOT DISTINCT FROM %s AND d.os_version IS NOT DISTINCT FROM %s
"""

COHORT_FIGURES = """
SELECT devices, figure_values FROM cohort_figures
WHERE model = %s AND os_version = %s AND until = %s AND days = %s
"""
SAVE_COHORT_FIGURES = """
INSERT INTO cohort_figures (model, os_version, until, days, devices, figure_values)
VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING
"""
PRUNE_COHORT_FIGURES = "DELETE FROM cohort_figures WHERE until < %s - INTERVAL '1 day'"

OPEN_FINDINGS = """
SELECT fault_kind, reason FROM findings
WHERE device_id = %s AND status = 'open' AND detected_at < %s
ORDER BY detected_at
"""


def device(conn: psycopg.Connection, device_id: str) -> dict | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(DEVICE, (device_id,)).fetchone()


def list_devices(conn: psycopg.Connection, limit: int, **filters: object) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(LIST_DEVICES, {**filters, "limit": limit}).fetchall()


def cohort_members(
    conn: psycopg.Connection, model: str | None, os_version: str | None
) -> list[str]:
    return [r[0] for r in conn.execute(COHORT_MEMBERS, (model, os_version))]


def first_sample(
    conn: psycopg.Connection, device_id: str, since: datetime, until: datetime
) -> datetime | None:
    return conn.execute(FIRST_SAMPLE, (device_id, since, until)).fetchone()[0]


def figures(
    conn: psycopg.Connection,
    ids: Sequence[str],
    since: datetime,
    until: datetime,
    *,
    samples: bool = True,
    crashes: bool = True,
) -> dict[str, Figures]:
    """Each device's figures over the window (devices without data are missing); the
    sample figures, the crash figures or both."""
    params = {"ids": list(ids), "since": since, "until": until}
    rows = {r[0]: r[1:] for r in conn.execute(FIGURES, params)} if samples else {}
    crash = {r[0]: r[1:] for r in conn.execute(CRASHES, params)} if crashes else {}
    tops = {r[0]: r[1:] for r in conn.execute(TOP_SIGNATURE, params)} if crashes else {}
    out: dict[str, Figures] = {}
    for device_id in rows.keys() | crash.keys():
        r = rows.get(device_id) or (0, *([None] * 12), 0)
        count, panics, hours = crash.get(device_id, (0, 0, 0))
        signature, version, top = tops.get(device_id, (None, None, 0))
        out[device_id] = Figures(
            *r[:12],
            sudden_drops=r[12] or 0,
            crashes=count,
            kernel_panics=panics,
            crash_hours=hours,
            top_signature=signature,
            top_signature_crashes=top,
            top_app_version=version,
        )
    return out


def crash_hours(conn: psycopg.Connection, device_id: str, since: datetime, until: datetime) -> int:
    """Hours of the window with at least one crash or panic."""
    return conn.execute(CRASH_HOURS, (device_id, since, until)).fetchone()[0]


def signature_devices(
    conn: psycopg.Connection,
    signature: str,
    *,
    since: datetime,
    until: datetime,
    model: str | None,
    os_version: str | None,
) -> int:
    return conn.execute(SIGNATURE_DEVICES, (signature, since, until, model, os_version)).fetchone()[
        0
    ]


def cohort_figures(
    conn: psycopg.Connection, key: tuple[str, str, datetime, float]
) -> tuple[int, dict[str, list[float]]] | None:
    """A cohort's stored figures: (devices, sorted values per figure), if computed."""
    row = conn.execute(COHORT_FIGURES, key).fetchone()
    return (row[0], row[1]) if row else None


def save_cohort_figures(
    conn: psycopg.Connection,
    key: tuple[str, str, datetime, float],
    devices: int,
    values: dict[str, list[float]],
) -> None:
    conn.execute(SAVE_COHORT_FIGURES, (*key, devices, Jsonb(values)))
    conn.execute(PRUNE_COHORT_FIGURES, (key[2],))


def open_findings(
    conn: psycopg.Connection, device_id: str, before: datetime
) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in conn.execute(OPEN_FINDINGS, (device_id, before))]


SET_CONSENT = """
UPDATE devices SET consent_telemetry = %(telemetry)s, consent_care_offers = %(care_offers)s,
       consent_email = %(email)s, consent_changed_at = %(at)s
WHERE device_id = %(device_id)s
RETURNING customer_id
"""


def set_consent(conn: psycopg.Connection, device_id: str, at: datetime, **consent: bool) -> None:
    conn.execute(SET_CONSENT, {**consent, "at": at, "device_id": device_id})


# --- findings, offers, customers -------------------------------------------------------

LIST_FINDINGS = """
SELECT finding_id, device_id, fault_kind, status, severity, confidence, onset_at, detected_at,
       resolved_at, detector, reason
FROM findings f
WHERE (%(device_id)s::text IS NULL OR device_id = %(device_id)s)
  AND (%(customer_id)s::uuid IS NULL OR device_id IN (
        SELECT device_id FROM devices WHERE customer_id = %(customer_id)s))
  AND (%(kind)s::text IS NULL OR fault_kind = %(kind)s)
  AND (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(severity)s::text IS NULL OR severity = %(severity)s)
  AND (%(since)s::timestamptz IS NULL OR detected_at >= %(since)s)
  AND (%(after)s::bigint IS NULL OR finding_id < %(after)s)
ORDER BY finding_id DESC
LIMIT %(limit)s
"""

LIST_OFFERS = """
SELECT offer_id, device_id, customer_id, finding_id, fault_kind, kind, severity, status,
       locale, title, channel, created_at, sent_at, delivered_at, viewed_at, answered_at,
       answer, closed_at, held_reason
FROM offers
WHERE (%(device_id)s::text IS NULL OR device_id = %(device_id)s)
  AND (%(customer_id)s::uuid IS NULL OR customer_id = %(customer_id)s
       OR device_id IN (SELECT device_id FROM devices WHERE customer_id = %(customer_id)s))
  AND (%(kind)s::text IS NULL OR kind = %(kind)s)
  AND (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(after_ts)s::timestamptz IS NULL
       OR (created_at, offer_id) < (%(after_ts)s, %(after_id)s::uuid))
ORDER BY created_at DESC, offer_id DESC
LIMIT %(limit)s
"""

CUSTOMER = """
SELECT customer_id, external_ref, name, email, phone, locale, timezone, created_at
FROM customers WHERE customer_id = %s
"""

CUSTOMER_DEVICES = """
SELECT device_id, model, os_name, os_version, status, last_seen_at, consent_telemetry,
       consent_care_offers, consent_email
FROM devices WHERE customer_id = %s ORDER BY device_id
"""

DEVICE_OWNER = "SELECT customer_id FROM devices WHERE device_id = %s"


def list_findings(conn: psycopg.Connection, limit: int, **filters: object) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(LIST_FINDINGS, {**filters, "limit": limit}).fetchall()


def list_offers(conn: psycopg.Connection, limit: int, **filters: object) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(LIST_OFFERS, {**filters, "limit": limit}).fetchall()


def customer(conn: psycopg.Connection, customer_id: uuid.UUID) -> dict | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(CUSTOMER, (customer_id,)).fetchone()


def customer_devices(conn: psycopg.Connection, customer_id: uuid.UUID) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(CUSTOMER_DEVICES, (customer_id,)).fetchall()


def device_owner(conn: psycopg.Connection, device_id: str) -> tuple[bool, uuid.UUID | None]:
    """Whether the device exists, and its owner."""
    row = conn.execute(DEVICE_OWNER, (device_id,)).fetchone()
    return (row is not None, row[0] if row else None)


SEARCH = """
SELECT c.customer_id, c.name, c.email, d.device_id, d.model
FROM customers c FULL JOIN devices d ON d.customer_id = c.customer_id
WHERE d.device_id ILIKE %(like)s OR c.name ILIKE %(like)s OR c.email ILIKE %(like)s
   OR c.customer_id::text = %(q)s
ORDER BY c.name NULLS LAST, d.device_id
LIMIT %(limit)s
"""


def search(conn: psycopg.Connection, q: str, limit: int) -> list[dict]:
    """Customers and devices whose device id, name or e-mail contains `q` (or whose
    customer id is `q`), for the support console's search box."""
    like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(SEARCH, {"q": q, "like": like, "limit": limit}).fetchall()


# --- timelines -------------------------------------------------------------------------

_TIMELINE = """
WITH scope AS ({scope}),
items AS (
    SELECT i.ts, i.touchpoint, i.kind, i.summary, i.device_id, i.offer_id, i.finding_id,
           i.actor, i.detail, 'i' || lpad(i.interaction_id::text, 19, '0') AS key
    FROM interactions i WHERE {interactions}
    UNION ALL
    SELECT f.detected_at, 'system', 'finding_opened', f.reason, f.device_id, NULL,
           f.finding_id, f.detector,
           jsonb_build_object('fault_kind', f.fault_kind, 'severity', f.severity,
                              'confidence', f.confidence),
           'f' || lpad(f.finding_id::text, 19, '0') || 'o'
    FROM findings f WHERE f.device_id IN (SELECT device_id FROM scope)
    UNION ALL
    SELECT f.resolved_at, 'system', 'finding_' || f.status, f.reason, f.device_id, NULL,
           f.finding_id, f.detector, jsonb_build_object('fault_kind', f.fault_kind),
           'f' || lpad(f.finding_id::text, 19, '0') || 'r'
    FROM findings f
    WHERE f.device_id IN (SELECT device_id FROM scope) AND f.resolved_at IS NOT NULL
)
SELECT * FROM items
WHERE (%(touchpoints)s::text[] IS NULL OR touchpoint = ANY(%(touchpoints)s))
  AND (%(since)s::timestamptz IS NULL OR ts >= %(since)s)
  AND (%(until)s::timestamptz IS NULL OR ts < %(until)s)
  AND (%(after_ts)s::timestamptz IS NULL OR (ts, key) < (%(after_ts)s, %(after_key)s))
ORDER BY ts DESC, key DESC
LIMIT %(limit)s
"""

DEVICE_TIMELINE = _TIMELINE.format(
    scope="SELECT %(device_id)s::text AS device_id",
    interactions="i.device_id = %(device_id)s",
)
CUSTOMER_TIMELINE = _TIMELINE.format(
    scope="SELECT device_id FROM devices WHERE customer_id = %(customer_id)s",
    interactions="(i.customer_id = %(customer_id)s"
    " OR i.device_id IN (SELECT device_id FROM scope))",
)


def timeline(conn: psycopg.Connection, limit: int, **params: object) -> list[dict]:
    query = CUSTOMER_TIMELINE if params.get("customer_id") else DEVICE_TIMELINE
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            query, {"device_id": None, "customer_id": None, **params, "limit": limit}
        ).fetchall()


# --- interactions and triage -----------------------------------------------------------

INSERT_INTERACTION = """
INSERT INTO interactions (ts, customer_id, device_id, touchpoint, kind, offer_id, finding_id,
                          actor, summary, detail)
VALUES (%(ts)s, %(customer_id)s, %(device_id)s, %(touchpoint)s, %(kind)s, %(offer_id)s,
        %(finding_id)s, %(actor)s, %(summary)s, %(detail)s)
RETURNING interaction_id, ts
"""

INSERT_TRIAGE = """
INSERT INTO triages (device_id, customer_id, ts, touchpoint, actor, complaint, note, verdict,
                     confidence, evidence, advice)
VALUES (%(device_id)s, %(customer_id)s, %(ts)s, %(touchpoint)s, %(actor)s, %(complaint)s,
        %(note)s, %(verdict)s, %(confidence)s, %(evidence)s, %(advice)s)
RETURNING triage_id
"""

TRIAGE = """
SELECT triage_id, device_id, customer_id, ts, touchpoint, actor, complaint, note, verdict,
       confidence, evidence, advice, outcome, outcome_at, outcome_note
FROM triages WHERE triage_id = %s
"""

SET_OUTCOME = """
UPDATE triages SET outcome = %s, outcome_at = %s, outcome_note = %s
WHERE triage_id = %s AND outcome IS NULL
RETURNING triage_id
"""

TRIAGE_STATS = """
SELECT verdict, count(*)::int AS triages,
       count(outcome)::int AS with_outcome,
       count(*) FILTER (WHERE outcome = 'fault_found')::int AS fault_found,
       count(*) FILTER (WHERE outcome = 'no_fault_found')::int AS no_fault_found
FROM triages
WHERE (%(since)s::timestamptz IS NULL OR ts >= %(since)s)
GROUP BY verdict ORDER BY verdict
"""


def add_interaction(conn: psycopg.Connection, **row: object) -> tuple[int, datetime]:
    values = {"offer_id": None, "finding_id": None, "detail": {}, **row}
    values["detail"] = Jsonb(values["detail"])
    interaction_id, ts = conn.execute(INSERT_INTERACTION, values).fetchone()
    return interaction_id, ts


def add_triage(conn: psycopg.Connection, **row: object) -> uuid.UUID:
    values = {**row, "evidence": Jsonb(row["evidence"])}
    return conn.execute(INSERT_TRIAGE, values).fetchone()[0]


def triage(conn: psycopg.Connection, triage_id: uuid.UUID) -> dict | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(TRIAGE, (triage_id,)).fetchone()


def set_outcome(
    conn: psycopg.Connection, triage_id: uuid.UUID, outcome: str, at: datetime, note: str | None
) -> bool:
    return conn.execute(SET_OUTCOME, (outcome, at, note, triage_id)).fetchone() is not None


def triage_stats(conn: psycopg.Connection, since: datetime | None) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(TRIAGE_STATS, {"since": since}).fetchall()


FLEET_ALERT_STATUS = "SELECT status FROM fleet_alerts WHERE alert_id = %s"


def fleet_alert_status(conn: psycopg.Connection, alert_id: int) -> str | None:
    row = conn.execute(FLEET_ALERT_STATUS, (alert_id,)).fetchone()
    return row[0] if row else None


# --- keys and audit --------------------------------------------------------------------

INSERT_KEY = "INSERT INTO api_keys (name, role, hash) VALUES (%s, %s, %s) RETURNING key_id"
LIST_KEYS = """
SELECT key_id, name, role, created_at, revoked_at, last_used_at FROM api_keys ORDER BY created_at
"""
REVOKE_KEY = """
UPDATE api_keys SET revoked_at = %s WHERE key_id = %s AND revoked_at IS NULL RETURNING key_id
"""
KEY_BY_HASH = """
SELECT key_id, name, role, last_used_at FROM api_keys WHERE hash = %s AND revoked_at IS NULL
"""
KEY_USED = "UPDATE api_keys SET last_used_at = %s WHERE key_id = %s"
KEY_USE_RESOLUTION = timedelta(minutes=1)
"""`last_used_at` is written at most this often: a read request then writes nothing."""
INSERT_AUDIT = (
    "INSERT INTO audit_log (ts, actor, action, subject, detail) VALUES (%s, %s, %s, %s, %s)"
)


def key_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def add_key(conn: psycopg.Connection, name: str, role: str, secret: str) -> uuid.UUID:
    return conn.execute(INSERT_KEY, (name, role, key_hash(secret))).fetchone()[0]


def list_keys(conn: psycopg.Connection) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(LIST_KEYS).fetchall()


def revoke_key(conn: psycopg.Connection, key_id: uuid.UUID, at: datetime) -> bool:
    return conn.execute(REVOKE_KEY, (at, key_id)).fetchone() is not None


def key_by_secret(conn: psycopg.Connection, secret: str, at: datetime) -> tuple | None:
    """The active key's (id, name, role), noting its use; None for an unknown or revoked key."""
    row = conn.execute(KEY_BY_HASH, (key_hash(secret),)).fetchone()
    if row is None:
        return None
    if row[3] is None or at - row[3] >= KEY_USE_RESOLUTION:
        conn.execute(KEY_USED, (at, row[0]))
    return row[:3]


def audit(
    conn: psycopg.Connection, at: datetime, actor: str, action: str, subject: str, **detail: object
) -> None:
    conn.execute(INSERT_AUDIT, (at, actor, action, subject, Jsonb(detail)))


# --- privacy ---------------------------------------------------------------------------

EXPORT_TABLES: dict[str, str] = {
    "interactions": "SELECT * FROM interactions WHERE customer_id = %(c)s OR device_id = ANY(%(d)s)"
    " ORDER BY ts",
    "findings": "SELECT * FROM findings WHERE device_id = ANY(%(d)s) ORDER BY detected_at",
    "offers": "SELECT * FROM offers WHERE device_id = ANY(%(d)s) OR customer_id = %(c)s"
    " ORDER BY created_at",
    "offer_responses": "SELECT * FROM offer_responses WHERE device_id = ANY(%(d)s)",
    "triages": "SELECT * FROM triages WHERE device_id = ANY(%(d)s) ORDER BY ts",
    "device_health": "SELECT * FROM device_health WHERE device_id = ANY(%(d)s)",
    "events": "SELECT * FROM events WHERE device_id = ANY(%(d)s) ORDER BY ts",
    "daily_telemetry": "SELECT device_id, time_bucket(INTERVAL '1 day', ts) AS day,"
    " count(*) AS samples, avg(battery_pct) AS battery_pct, avg(battery_temp_c) AS battery_temp_c,"
    " avg(cpu_temp_c) AS cpu_temp_c, min(storage_free_bytes) AS storage_free_bytes"
    " FROM samples WHERE device_id = ANY(%(d)s) GROUP BY 1, 2 ORDER BY 1, 2",
}
"""What an export holds beyond the customer and device rows; raw telemetry comes as daily
summaries (the raw samples of a year would be hundreds of megabytes)."""

ERASE_STATEMENTS: tuple[tuple[str, str], ...] = (
    ("samples", "DELETE FROM samples WHERE device_id = ANY(%(d)s)"),
    ("events", "DELETE FROM events WHERE device_id = ANY(%(d)s)"),
    ("batches", "DELETE FROM batches WHERE device_id = ANY(%(d)s)"),
    (
        "interactions",
        "DELETE FROM interactions WHERE customer_id = %(c)s OR device_id = ANY(%(d)s)",
    ),
    ("offers", "DELETE FROM offers WHERE device_id = ANY(%(d)s) OR customer_id = %(c)s"),
    ("findings", "DELETE FROM findings WHERE device_id = ANY(%(d)s)"),
    ("triages", "DELETE FROM triages WHERE device_id = ANY(%(d)s)"),
    ("dead_letters", "DELETE FROM dead_letters WHERE device_id = ANY(%(d)s)"),
    ("devices", "DELETE FROM devices WHERE device_id = ANY(%(d)s)"),
    ("customers", "DELETE FROM customers WHERE customer_id = %(c)s"),
)
"""Erasure, children first; rows that cascade (offer attempts, health, answers) go with
their parents."""

COUNT_ERASED = """
INSERT INTO erasure_counters (day, item, erased) VALUES (%s::date, %s, %s)
ON CONFLICT (day, item) DO UPDATE SET erased = erasure_counters.erased + excluded.erased
"""


def export(conn: psycopg.Connection, customer_id: uuid.UUID) -> dict[str, list[dict]]:
    devices = [d["device_id"] for d in customer_devices(conn, customer_id)]
    params = {"c": customer_id, "d": devices}
    out: dict[str, list[dict]] = {}
    with conn.cursor(row_factory=dict_row) as cur:
        out["devices"] = cur.execute(
            "SELECT * FROM devices WHERE device_id = ANY(%s)", (devices,)
        ).fetchall()
        for name, query in EXPORT_TABLES.items():
            out[name] = cur.execute(query, params).fetchall()
    return out


def erase(conn: psycopg.Connection, customer_id: uuid.UUID, at: datetime) -> dict[str, int]:
    """Delete everything of the customer and their devices; return how many rows of each."""
    devices = [d["device_id"] for d in customer_devices(conn, customer_id)]
    params = {"c": customer_id, "d": devices}
    counts: dict[str, int] = {}
    with conn.transaction():
        for name, statement in ERASE_STATEMENTS:
            counts[name] = conn.execute(statement, params).rowcount
        for name, erased in counts.items():
            if erased:
                conn.execute(COUNT_ERASED, (at, name, erased))
    return counts


def day_window(until: datetime, days: float) -> tuple[datetime, datetime]:
    return until - timedelta(days=days), until


# --- tasks: interactions with a status ---------------------------------------------------

LIST_TASKS = """
SELECT interaction_id, ts, customer_id, device_id, touchpoint, kind, offer_id, finding_id,
       actor, summary, detail, status, due_at, closed_at, result
FROM interactions
WHERE status IS NOT NULL
  AND (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(touchpoint)s::text IS NULL OR touchpoint = %(touchpoint)s)
  AND (%(device_id)s::text IS NULL OR device_id = %(device_id)s)
  AND (%(after)s::bigint IS NULL OR interaction_id > %(after)s)
ORDER BY interaction_id
LIMIT %(limit)s
"""

CLOSE_TASK = """
UPDATE interactions
SET status = %(closed)s, closed_at = %(at)s, result = %(result)s,
    detail = detail || %(detail)s
WHERE interaction_id = %(interaction_id)s AND status = %(open)s
RETURNING interaction_id, ts, customer_id, device_id, touchpoint, kind, offer_id, finding_id,
       actor, summary, detail, status, due_at, closed_at, result
"""

TASK = """
SELECT interaction_id, ts, customer_id, device_id, touchpoint, kind, offer_id, finding_id,
       actor, summary, detail, status, due_at, closed_at, result
FROM interactions WHERE interaction_id = %s AND status IS NOT NULL
"""

FINDING_FOR_FEEDBACK = "SELECT fault_kind, detector, status FROM findings WHERE finding_id = %s"

FINDING_FALSE_ALARM = """
UPDATE findings SET status = %(false_alarm)s, resolved_at = coalesce(resolved_at, %(at)s),
    updated_at = %(at)s
WHERE finding_id = %(finding_id)s AND status = %(open)s
"""

INSERT_FEEDBACK = """
INSERT INTO finding_feedback (ts, finding_id, device_id, fault_kind, detector, verdict, source,
                              offer_id, comment)
VALUES (%(at)s, %(finding_id)s, %(device_id)s, %(fault_kind)s, %(detector)s, %(verdict)s,
        %(source)s, %(offer_id)s, %(comment)s)
"""


def list_tasks(conn: psycopg.Connection, limit: int, **filters: object) -> list[dict]:
    """Tasks (interactions with a status), oldest first, filtered by status, touch point
    and device."""
    params = {"status": None, "touchpoint": None, "device_id": None, "after": None}
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(LIST_TASKS, {**params, **filters, "limit": limit}).fetchall()


def task(conn: psycopg.Connection, interaction_id: int) -> dict | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(TASK, (interaction_id,)).fetchone()


def close_task(conn: psycopg.Connection, **params: object) -> dict | None:
    """Close an open task; the closed row, or None when it is not open (or not a task)."""
    values = {**params, "detail": Jsonb(params["detail"])}
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(CLOSE_TASK, values).fetchone()


def finding_for_feedback(conn: psycopg.Connection, finding_id: int) -> tuple[str, str, str] | None:
    """A finding's (fault kind, detector, status), None when it is gone."""
    row = conn.execute(FINDING_FOR_FEEDBACK, (finding_id,)).fetchone()
    return None if row is None else (row[0], row[1], row[2])


def mark_finding_false_alarm(conn: psycopg.Connection, **params: object) -> None:
    conn.execute(FINDING_FALSE_ALARM, params)


def add_feedback(conn: psycopg.Connection, **row: object) -> None:
    conn.execute(INSERT_FEEDBACK, row)
