"""Migrations and the schema against the real TimescaleDB."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from devicecare.contracts import SAMPLE_METRICS
from devicecare.contracts.topics import DEVICE_ID_PATTERN
from devicecare.db.migrate import available, maintain, migrate
from devicecare.errors import MigrationError

pytestmark = pytest.mark.integration


def test_migrate_twice_applies_nothing_the_second_time(db_url: str) -> None:
    again = migrate(db_url)
    assert again.applied == []
    assert again.already == len(available(again.edition))
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT version, edition FROM schema_migrations ORDER BY 1").fetchall()
    assert [r[0] for r in rows] == [m.version for m in available(again.edition)]
    assert {r[1] for r in rows} == {again.edition}


def test_migrations_apply_on_an_empty_database(empty_db_url: str) -> None:
    result = migrate(empty_db_url)
    assert result.already == 0
    assert result.applied == [f"{m.version:04d}_{m.name}" for m in available(result.edition)]
    assert migrate(empty_db_url).applied == []


def test_a_changed_migration_is_refused(db: psycopg.Connection, db_url: str) -> None:
    db.execute("UPDATE schema_migrations SET checksum = 'tampered' WHERE version = 1")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(db_url)


def test_two_migrations_with_one_number_are_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_core.sql").write_text("SELECT 1;")
    (tmp_path / "0002_first.sql").write_text("SELECT 2;")
    (tmp_path / "0002_second.sql").write_text("SELECT 3;")
    with pytest.raises(MigrationError, match="migration 0002 needs one plain file"):
        available("timescale", tmp_path)
    (tmp_path / "0002_second.sql").unlink()
    assert [m.name for m in available("timescale", tmp_path)] == ["core", "first"]


def test_samples_have_one_column_per_contract_metric(db: psycopg.Connection) -> None:
    columns = [
        r[0]
        for r in db.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_name = 'samples' ORDER BY ordinal_position"
        )
    ]
    assert columns == ["ts", "device_id", "seq", *SAMPLE_METRICS, "detail"]


def test_device_id_rule_matches_the_contract(db: psycopg.Connection) -> None:
    (check,) = db.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = 'devices'::regclass AND contype = 'c' AND conname LIKE '%device_id%'"
    ).fetchone()
    assert DEVICE_ID_PATTERN in check
    db.execute("INSERT INTO devices (device_id) VALUES ('phone-1.a_b')")
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute("INSERT INTO devices (device_id) VALUES ('_ingest')")


def test_samples_and_events_are_hypertables(db: psycopg.Connection) -> None:
    names = {
        r[0] for r in db.execute("SELECT hypertable_name FROM timescaledb_information.hypertables")
    }
    assert {"samples", "events"} <= names


def test_a_sample_round_trips_and_rolls_up_by_hour(db: psycopg.Connection) -> None:
    t0 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
    rows = [
        (t0 + timedelta(minutes=m), "dev-a", 1, 80.0 - m / 10, 30.0 + m / 10, m % 2 == 0)
        for m in range(0, 120, 5)
    ]
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO samples (ts, device_id, seq, battery_pct, cpu_temp_c, thermal_throttled)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            rows,
        )
    got = db.execute(
        "SELECT ts, battery_pct, cpu_temp_c FROM samples WHERE device_id = 'dev-a' ORDER BY ts"
    ).fetchall()
    assert got[0] == (t0, pytest.approx(80.0), pytest.approx(30.0))
    assert len(got) == len(rows)

    buckets = db.execute(
        "SELECT time_bucket(INTERVAL '1 hour', ts) AS b, count(*) FROM samples"
        " WHERE device_id = 'dev-a' GROUP BY b ORDER BY b"
    ).fetchall()
    assert buckets == [(t0, 12), (t0 + timedelta(hours=1), 12)]

    hourly = db.execute(
        "SELECT bucket, samples, battery_pct_min, battery_pct_max, cpu_temp_c_max,"
        " throttled_samples FROM samples_hourly WHERE device_id = 'dev-a' ORDER BY bucket"
    ).fetchall()
    assert [h[0] for h in hourly] == [t0, t0 + timedelta(hours=1)]
    assert hourly[0][1:] == (
        12,
        pytest.approx(80.0 - 5.5),
        pytest.approx(80.0),
        pytest.approx(35.5),
        6,
    )


def test_events_roll_up_by_day(db: psycopg.Connection) -> None:
    t0 = datetime(2026, 11, 2, tzinfo=UTC)
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO events (ts, device_id, seq, kind, process, signature)"
            " VALUES (%s, 'dev-b', 7, %s, 'camera', 'sig-1')",
            [(t0 + timedelta(hours=h), "app_crash") for h in range(3)]
            + [(t0 + timedelta(hours=5), "reboot")],
        )
    daily = db.execute(
        "SELECT kind, events FROM events_daily WHERE device_id = 'dev-b' ORDER BY kind"
    ).fetchall()
    assert daily == [("app_crash", 3), ("reboot", 1)]


def test_one_open_finding_per_device_and_fault(db: psycopg.Connection) -> None:
    db.execute("INSERT INTO devices (device_id) VALUES ('dev-c')")
    insert = (
        "INSERT INTO findings (device_id, fault_kind, severity, confidence, detected_at,"
        " detector, reason) VALUES ('dev-c', 'battery_fade', 'medium', 0.8, now(), 'rules', 'r')"
    )
    db.execute(insert)
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.execute(insert)
    db.execute("UPDATE findings SET status = 'resolved', resolved_at = now()")
    db.execute(insert)


def test_a_batch_is_recorded_once(db: psycopg.Connection) -> None:
    insert = (
        "INSERT INTO batches (device_id, seq, channel, sent_at, rows, first_ts, last_ts)"
        " VALUES ('dev-d', 42, 'telemetry', now(), 10, now(), now())"
        " ON CONFLICT DO NOTHING RETURNING seq"
    )
    assert db.execute(insert).fetchall() == [(42,)]
    assert db.execute(insert).fetchall() == []


def test_dead_letters_keep_at_most_a_kib_of_payload(db: psycopg.Connection) -> None:
    insert = (
        "INSERT INTO dead_letters (topic, reason, detail, payload_size, payload_head)"
        " VALUES ('t', 'malformed', 'x', %s, %s)"
    )
    db.execute(insert, (1024, b"x" * 1024))
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute(insert, (1025, b"x" * 1025))


def test_maintain_drops_only_chunks_past_retention(db: psycopg.Connection, db_url: str) -> None:
    old = datetime.now(UTC) - timedelta(days=500)
    recent = datetime.now(UTC) - timedelta(days=1)
    db.execute(
        "INSERT INTO samples (ts, device_id, seq, battery_pct) VALUES (%s, 'e', 1, 50),"
        " (%s, 'e', 2, 51)",
        (old, recent),
    )
    edition = db.execute("SHOW timescaledb.license").fetchone()[0]
    dropped = maintain(db_url)
    left = db.execute("SELECT seq FROM samples WHERE device_id = 'e'").fetchall()
    if edition == "apache":
        assert len(dropped) == 1
        assert left == [(2,)]
    else:  # the timescale edition's retention job does it on its own schedule
        assert dropped == []


def test_both_editions_define_the_same_rollups() -> None:
    """The apache views and the timescale continuous aggregates must not drift apart."""

    def bodies(edition: str) -> list[str]:
        (step,) = [m for m in available(edition) if m.version == 2]  # type: ignore[arg-type]
        return re.findall(r"AS\s*(SELECT.*?GROUP BY [^;\n]*)", step.sql, flags=re.DOTALL)

    apache, timescale = bodies("apache"), bodies("timescale")
    assert len(apache) == 2
    assert apache == timescale
