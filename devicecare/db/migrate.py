"""Versioned SQL migrations, applied once each and recorded in `schema_migrations`.

Files are `NNNN_name.sql` (every edition) or `NNNN_name.apache.sql` plus
`NNNN_name.timescale.sql` (one per TimescaleDB edition, chosen at apply time). Each runs
in its own transaction under an advisory lock, so concurrent `migrate` calls are safe;
an applied file that changed afterwards stops the run (checksums are recorded).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Literal

import psycopg

from devicecare.errors import MigrationError

log = logging.getLogger(__name__)

Edition = Literal["apache", "timescale"]
EDITIONS: tuple[Edition, ...] = ("apache", "timescale")
_LOCK_KEY = 0x44657643  # arbitrary, fixed: "DevC"
_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)(?:\.(?P<edition>[a-z]+))?\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    edition: Edition | None
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available(edition: Edition, folder: Traversable | None = None) -> list[Migration]:
    """The migrations in `folder` (the package's own by default) that apply to `edition`,
    in version order. Two files of one version (other than one per edition) are refused:
    branches that picked the same number must not silently drop one."""
    found: dict[int, list[Migration]] = {}
    folder = folder or resources.files("devicecare.db") / "migrations"
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if not match:
            continue
        file_edition = match["edition"]
        if file_edition is not None and file_edition not in EDITIONS:
            raise MigrationError(f"{entry.name}: unknown edition {file_edition!r}")
        found.setdefault(int(match["version"]), []).append(
            Migration(int(match["version"]), match["name"], file_edition, entry.read_text())
        )
    chosen = []
    for version, variants in sorted(found.items()):
        editions = [m.edition for m in variants]
        if editions != [None] and sorted(editions, key=str) != sorted(EDITIONS):
            raise MigrationError(
                f"migration {version:04d} needs one plain file or one per edition {EDITIONS}"
            )
        chosen.append(next(m for m in variants if m.edition in (None, edition)))
    return chosen


def detect_edition(conn: psycopg.Connection) -> Edition:
    row = conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()
    value = row[0] if row else None
    if value not in EDITIONS:
        raise MigrationError(f"unexpected timescaledb.license {value!r}")
    return value  # type: ignore[return-value]


@dataclass(frozen=True)
class MigrateResult:
    edition: Edition
    applied: list[str]
    already: int


def migrate(url: str) -> MigrateResult:
    """Apply every pending migration to the database at `url`."""
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL, edition text NOT NULL,"
                " checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            edition = detect_edition(conn)
            done = dict(conn.execute("SELECT version, checksum FROM schema_migrations").fetchall())
            applied: list[str] = []
            for migration in available(edition):
                label = f"{migration.version:04d}_{migration.name}"
                if migration.version in done:
                    if done[migration.version] != migration.checksum:
                        raise MigrationError(f"{label} changed after it was applied")
                    continue
                log.info("applying %s (%s)", label, edition)
                with conn.transaction():
                    conn.execute(migration.sql)  # type: ignore[arg-type]  # trusted file
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, edition, checksum)"
                        " VALUES (%s, %s, %s, %s)",
                        (migration.version, migration.name, edition, migration.checksum),
                    )
                applied.append(label)
            return MigrateResult(edition, applied, len(done))
    except psycopg.Error as exc:
        raise MigrationError(f"migration failed: {exc}") from exc


def maintain(url: str) -> list[str]:
    """Apply retention on the apache edition (the timescale edition's jobs do it there)."""
    with psycopg.connect(url, autocommit=True) as conn:
        if detect_edition(conn) == "timescale":
            return []
        rows = conn.execute(
            "SELECT hypertable::text, drop_after FROM retention_policies ORDER BY 1"
        ).fetchall()
        dropped: list[str] = []
        for table, drop_after in rows:
            chunks = conn.execute(
                "SELECT drop_chunks(%s::regclass, older_than => now() - %s::interval)",
                (table, drop_after),
            ).fetchall()
            dropped.extend(str(c[0]) for c in chunks)
        return dropped
