"""A project-owned PostgreSQL cluster with TimescaleDB preloaded, on a loopback port."""

from __future__ import annotations

import secrets
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from devicecare.errors import StackError
from devstack import processes

SUPERUSER = "devicecare"
DATABASE = "devicecare"


def find_bindir(configured: Path | None) -> Path:
    """The server binaries: configured, else `pg_config --bindir`, else Debian's newest."""
    candidates: list[Path] = []
    if configured is not None:
        candidates.append(configured)
    else:
        pg_config = shutil.which("pg_config")
        if pg_config:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=False
            )
            candidates.append(Path(out.stdout.strip()))
        debian = Path("/usr/lib/postgresql")
        if debian.is_dir():
            versions = sorted(
                (p for p in debian.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)
            )
            candidates.extend(v / "bin" for v in reversed(versions))
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    raise StackError(
        "no PostgreSQL server binaries (initdb, pg_ctl) found; run ./scripts/setup "
        "or set DEVICECARE_STACK__PG_BINDIR"
    )


@dataclass(frozen=True)
class LocalPostgres:
    root: Path
    bindir: Path
    host: str

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    def url(self, port: int, password: str, database: str = DATABASE) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"postgresql://{SUPERUSER}:{password}@{host}:{port}/{database}"

    def init(self) -> str:
        """Create the cluster; return the superuser's generated password."""
        user = processes.service_user("postgres")
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)
        processes.give_to(user, self.root)
        password = secrets.token_urlsafe(24)
        pwfile = self.root / "initdb.pw"
        pwfile.write_text(password + "\n")
        processes.give_to(user, pwfile)
        try:
            processes.run(
                [
                    str(self.bindir / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=peer",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--no-instructions",
                ],
                user,
            )
        finally:
            pwfile.unlink()
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\ninclude_if_exists = 'devicecare.conf'\n")
        return password

    def start(self, port: int, timeout_s: float) -> int:
        """Start the server on `port`, wait until it accepts connections; return its PID."""
        user = processes.service_user("postgres")
        conf = self.data / "devicecare.conf"
        conf.write_text(
            f"listen_addresses = '{self.host}'\n"
            f"port = {port}\n"
            "unix_socket_directories = ''\n"
            "shared_preload_libraries = 'timescaledb'\n"
            "timescaledb.telemetry_level = 'off'\n"
            "max_connections = 200\n"
            "shared_buffers = '256MB'\n"
            "max_wal_size = '2GB'\n"
            "max_worker_processes = 16\n"
            "log_min_messages = 'warning'\n"
        )
        processes.give_to(user, conf)
        try:
            processes.run(
                [
                    str(self.bindir / "pg_ctl"),
                    "start",
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.log),
                    "-w",
                    "-t",
                    str(int(timeout_s)),
                ],
                user,
            )
        except StackError as exc:
            raise StackError(f"{exc}\n--- {self.log}:\n{processes.tail(self.log)}") from exc
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def stop(self, pid: int) -> None:
        """Fast shutdown (SIGINT) of the postmaster we started."""
        processes.stop(pid, "postgres", signal.SIGINT, timeout_s=60)

    def create_database(self, url: str) -> None:
        """Create the DeviceCare database and its TimescaleDB extension when missing."""
        admin_url = url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
            ).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
