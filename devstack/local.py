"""`devicecare stack up | down | status`: the project-local TimescaleDB and Mosquitto.

State (PIDs, ports, generated credentials) lives in `<state_dir>/stack/stack.json`
(see devstack.state); `fill` turns it into settings for every other command. Services
whose URL is configured (DEVICECARE_DATABASE_URL / DEVICECARE_MQTT_URL) are not started
here: the external ones are used instead.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from pydantic import AnyUrl

from devicecare.config import Settings
from devicecare.contracts.accounts import ServiceAccount
from devicecare.contracts.topics import check_device_id
from devicecare.endpoints import database_url, mqtt_endpoint
from devicecare.errors import StackError
from devicecare.mqttclient import MqttEndpoint, probe
from devstack import processes
from devstack.mosquitto import LocalMosquitto, add_devices, find_binary
from devstack.postgres import LocalPostgres, find_bindir
from devstack.state import credentials_file, read_state, stack_dir, state_file, write_private


@dataclass(frozen=True)
class ServiceStatus:
    service: str
    healthy: bool
    where: str
    detail: str
    pid: int | None = None


def _postgres(settings: Settings) -> LocalPostgres:
    return LocalPostgres(
        stack_dir(settings) / "postgres", find_bindir(settings.stack.pg_bindir), settings.stack.host
    )


def _mosquitto(settings: Settings) -> LocalMosquitto:
    return LocalMosquitto(
        stack_dir(settings) / "mosquitto",
        find_binary(settings.stack.mosquitto_bin),
        settings.stack.host,
    )


@contextmanager
def _locked(settings: Settings) -> Iterator[dict]:
    """Hold the stack lock; yield the state to change, saved on the way out."""
    root = stack_dir(settings)
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # the servers' own accounts must reach their folders
    with (root / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = read_state(settings) or {"accounts": {}, "devices": {}}
        try:
            yield state
        finally:  # what did start must be recorded even when the rest failed
            write_private(state_file(settings), state)
            write_private(credentials_file(settings), state["accounts"] | state["devices"])


def _port(host: str, preferred: int | None) -> int:
    if preferred and not processes.port_open(host, preferred):
        return preferred
    return processes.free_port(host)


def fill(settings: Settings) -> Settings:
    """The settings with the local stack's URLs (and MQTT credentials file) where none is
    configured and the stack has started the service; what the `devicecare` command line
    and the tests hand to every service, which then read URLs from settings only."""
    state = read_state(settings) or {}
    update: dict[str, object] = {}
    if settings.database_url is None and state.get("postgres", {}).get("pid"):
        update["database_url"] = AnyUrl(state["postgres"]["url"])
    if settings.mqtt_url is None and state.get("mosquitto", {}).get("pid"):
        update["mqtt_url"] = AnyUrl(state["mosquitto"]["url"])
        update["mqtt_credentials_file"] = credentials_file(settings)
    return settings.model_copy(update=update) if update else settings


def _is_local(settings: Settings, service: str, state: dict) -> bool:
    """True when `service` is the local stack's: not configured, or filled in from it."""
    configured = settings.database_url if service == "postgres" else settings.mqtt_url
    return configured is None or str(configured) == state.get(service, {}).get("url")


def up(settings: Settings) -> None:
    """Start what is not running yet; a no-op when both services are up."""
    with _locked(settings) as state:
        if _is_local(settings, "postgres", state):
            _up_postgres(settings, state)
        if _is_local(settings, "mosquitto", state):
            _up_mosquitto(settings, state)


def _up_postgres(settings: Settings, state: dict) -> None:
    pg = _postgres(settings)
    known = state.get("postgres")
    if known and known["pid"] and processes.alive(known["pid"], "postgres"):
        return
    if not (pg.data / "PG_VERSION").exists():
        known = {"password": pg.init()}
    elif not known:
        raise StackError(f"{pg.data} exists but {state_file(settings)} does not know it")
    port = _port(settings.stack.host, known.get("port"))
    pid = pg.start(port, settings.stack.start_timeout_s)
    url = pg.url(port, known["password"])
    state["postgres"] = {"pid": pid, "port": port, "password": known["password"], "url": url}
    pg.create_database(url)


def _up_mosquitto(settings: Settings, state: dict) -> None:
    mq = _mosquitto(settings)
    for account in ServiceAccount:
        state["accounts"].setdefault(account.value, secrets.token_urlsafe(24))
    known = state.get("mosquitto")
    if known and known["pid"] and processes.alive(known["pid"], "mosquitto"):
        return
    port = _port(settings.stack.host, known.get("port") if known else None)
    mq.write_config(port, state["accounts"], state["devices"])
    pid = mq.start(port, settings.stack.start_timeout_s)
    host = settings.stack.host
    url = f"mqtt://[{host}]:{port}" if ":" in host else f"mqtt://{host}:{port}"
    state["mosquitto"] = {"pid": pid, "port": port, "host": host, "url": url}


SERVICES = ("postgres", "mosquitto")


def down(settings: Settings, *, purge: bool = False, only: Sequence[str] = SERVICES) -> list[str]:
    """Stop exactly the servers `up` started (by PID); with `purge`, delete their data."""
    stopped: list[str] = []
    if read_state(settings) is not None:
        with _locked(settings) as state:
            for name, server in (("postgres", _postgres), ("mosquitto", _mosquitto)):
                known = state.get(name) if name in only else None
                if known and known.get("pid"):
                    server(settings).stop(known["pid"])
                    stopped.append(f"{name} (pid {known['pid']})")
                    known["pid"] = None
    if purge and set(only) == set(SERVICES) and stack_dir(settings).exists():
        shutil.rmtree(stack_dir(settings))
    return stopped


def provision_devices(settings: Settings, device_ids: Sequence[str]) -> dict[str, str]:
    """Create (or keep) MQTT accounts for devices on the local broker; return their passwords."""
    for device_id in device_ids:
        check_device_id(device_id)
    if not _is_local(settings, "mosquitto", read_state(settings) or {}):
        raise StackError(
            "device accounts can only be provisioned on the local broker; "
            "DEVICECARE_MQTT_URL points to an external one"
        )
    with _locked(settings) as state:
        known = state.get("mosquitto")
        if not known or not known["pid"] or not processes.alive(known["pid"], "mosquitto"):
            raise StackError("the local broker is not running: run `devicecare stack up`")
        added = {d: secrets.token_urlsafe(18) for d in device_ids if d not in state["devices"]}
        if added:
            admin = ServiceAccount.ADMIN
            endpoint = MqttEndpoint(
                known["host"], known["port"], admin.value, state["accounts"][admin]
            )
            add_devices(endpoint, added, settings.stack.start_timeout_s)
            state["devices"].update(added)
        return {d: state["devices"][d] for d in device_ids}


def status(settings: Settings) -> list[ServiceStatus]:
    """Health of the database (with its TimescaleDB edition) and of the broker."""
    state = read_state(settings) or {}
    filled = fill(settings)
    return [_postgres_status(filled, state), _mosquitto_status(filled, state)]


def _postgres_status(settings: Settings, state: dict) -> ServiceStatus:
    pid = state.get("postgres", {}).get("pid") if _is_local(settings, "postgres", state) else None
    try:
        url = database_url(settings)
    except StackError as exc:
        return ServiceStatus("timescaledb", False, "-", str(exc))
    where = url.split("@", 1)[-1]
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            row = conn.execute(
                "SELECT current_setting('server_version'),"
                " (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'),"
                " current_setting('timescaledb.license', true)"
            ).fetchone()
    except psycopg.Error as exc:
        return ServiceStatus("timescaledb", False, where, f"unreachable: {exc}".strip(), pid)
    assert row is not None
    server, ext, edition = row
    if ext is None:
        return ServiceStatus(
            "timescaledb", False, where, f"PostgreSQL {server}, timescaledb extension missing", pid
        )
    return ServiceStatus(
        "timescaledb",
        True,
        where,
        f"PostgreSQL {server}, timescaledb {ext}, edition {edition}",
        pid,
    )


def _mosquitto_status(settings: Settings, state: dict) -> ServiceStatus:
    pid = state.get("mosquitto", {}).get("pid") if _is_local(settings, "mosquitto", state) else None
    try:
        endpoint = mqtt_endpoint(settings, ServiceAccount.MONITOR)
    except StackError as exc:
        return ServiceStatus("mosquitto", False, "-", str(exc))
    where = f"{endpoint.host}:{endpoint.port}"
    answer = probe(endpoint, ServiceAccount.MONITOR.client_id(f"status-{os.getpid()}"))
    return ServiceStatus("mosquitto", answer == "Success", where, f"connect: {answer}", pid)
