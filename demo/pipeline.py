"""`devicecare demo`: the whole loop on a simulated fleet, start to finish.

1. The local stack is started if needed (and left running); the stack's own database is
   migrated and must hold no devices yet (`--fresh` empties it first), so that the API,
   `devicecare config` and the dashboards show what the demo produced.
2. `devicecare ingest` and `devicecare detect` run as their own processes while the
   simulator publishes the fleet through the broker as its devices.
3. When everything is stored the live detector is stopped (it checkpoints) and a worker
   finishes the rest from its checkpoints.
4. Owners are created for the devices (locale and time zone by region), each device keeps
   a persistent session on its offers topic, and the notifier runs on the simulated
   clock, an hour at a time; simulated owners answer the offers that reach them, as their
   devices, through the broker and ingest.
5. The devices' retained status messages are cleared on the broker, so that a later
   `devicecare ingest` (on any database) does not register the simulated fleet.
6. The figures are computed against the simulator's ground truth.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from demo.owners import Owners, Reply, assign_owners
from detectors.live.service import DetectService
from devicecare.config import Settings
from devicecare.contracts import Channel
from devicecare.contracts.accounts import ServiceAccount
from devicecare.db.migrate import migrate
from devicecare.endpoints import database_url, mqtt_endpoint
from devicecare.errors import DeviceCareError
from devstack import local
from notifier.service import Notifier
from simulator.fleet import Fleet
from simulator.run import Plan, simulate, start_of
from simulator.sessions import SessionPool, Upload

REGION_TIMEZONES = ("America/New_York", "Europe/Berlin", "Asia/Kolkata", "Asia/Tokyo")
REGION_LOCALES = ("en", "de", "en", "en")
INGEST_WORKER = 90
HOUR = timedelta(hours=1)


@dataclass
class DemoPlan:
    devices: int = 500
    days: float = 60.0
    seed: int = 7
    upload_hours: float = 12.0
    database: str | None = None
    """None: the stack's own database, so every other command sees the demo's data."""
    faults: str | None = None
    fresh: bool = False


@dataclass
class DemoRun:
    plan: DemoPlan
    url: str
    truth: dict
    samples_published: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds per phase: setup, simulate (publishing, with ingest and detect running
    along), ingest_tail and detect_tail (what was left after publishing), notify, total."""
    replies: list[Reply] = field(default_factory=list)
    received_offers: int = 0
    detect_tail_samples: int = 0
    """Samples the live detector had not reached when it was stopped (finished after)."""


class DemoError(DeviceCareError):
    """The demo cannot run as asked (for example, its database already holds data)."""


def stack_database(settings: Settings) -> str:
    """The name of the configured database: the demo's default target."""
    return database_url(settings).rsplit("/", 1)[-1].split("?", 1)[0]


def demo_database(settings: Settings, name: str, *, fresh: bool) -> str:
    """The migrated, empty database `name` on the configured server, as a URL.

    `fresh` drops and recreates it. Without it, a database that already holds devices is
    refused rather than mixed into the figures: the demo measures against its own truth.
    """
    base = database_url(settings).rsplit("/", 1)[0]
    url = f"{base}/{name}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if fresh:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    migrate(url)
    devices = _count(url, "SELECT count(*) FROM devices")
    if devices:
        raise DemoError(
            f"database {name} already holds data ({devices:,} devices): `devicecare demo --fresh` "
            "deletes its data and starts over, `--database OTHER` uses another one"
        )
    return url


class Services:
    """ingest and detect as processes, with their logs in the state folder."""

    def __init__(self, settings: Settings, url: str) -> None:
        self.logs = settings.state_dir.resolve() / "demo"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.env = os.environ | {
            "DEVICECARE_STATE_DIR": str(settings.state_dir.resolve()),
            "DEVICECARE_DATABASE_URL": url,
            "DEVICECARE_INGEST__METRICS_PORT": "0",
            "DEVICECARE_DETECT__METRICS_PORT": "0",
            "DEVICECARE_INGEST__SESSION_EXPIRY_S": "0",
            # The simulated devices take no config: raising their sampling would be noise.
            "DEVICECARE_DETECT__HIGH_RES__ENABLED": "false",
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str, ready: str | None = None) -> None:
        path = self.logs / f"{name}.log"
        with path.open("wb") as log:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "cli", *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        deadline = time.monotonic() + 60
        while ready is not None and ready not in path.read_text():
            if self.procs[name].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start; see {path}")
            time.sleep(0.1)

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=120)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)


def run(settings: Settings, plan: DemoPlan, console: Console) -> DemoRun:
    started = time.perf_counter()
    local.up(settings)
    settings = local.fill(settings)  # loaded before `up`: a stack started just now counts too
    url = demo_database(settings, plan.database or stack_database(settings), fresh=plan.fresh)
    sim = Plan(plan.devices, plan.days, plan.seed, plan.faults, upload_hours=plan.upload_hours)
    fleet = Fleet(
        plan.devices,
        seed=plan.seed,
        start_ms=start_of(sim, int(time.time() * 1000)),
        days=plan.days,
        faults=plan.faults,
    )
    truth = {
        "seed": plan.seed,
        "start_ms": fleet.start_ms,
        "end_ms": fleet.start_ms + sim.steps * sim.interval_s * 1000,
        "interval_s": sim.interval_s,
        **fleet.truth(),
    }
    result = DemoRun(plan, url, truth)
    services = Services(settings, url)
    try:
        services.start("ingest", "ingest", "--worker", str(INGEST_WORKER), ready="granted")
        services.start("detect", "detect", ready="took partitions")
        result.timings["setup_s"] = time.perf_counter() - started
        _stream(settings, sim, fleet, result, console)
        caught_up = time.perf_counter()
        services.stop("detect")
        tail = DetectService(url, settings.detect).run(threading.Event(), until_idle=True)
        result.detect_tail_samples = tail.samples
        result.timings["detect_tail_s"] = time.perf_counter() - caught_up
        _notify(settings, fleet, result, console)
    finally:
        services.stop_all()
    _clear_retained(settings, fleet)
    result.timings["total_s"] = time.perf_counter() - started
    return result


def _bars(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:<9}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
        console=console,
    )


def _count(url: str, query: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(query).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _stream(settings: Settings, sim: Plan, fleet: Fleet, result: DemoRun, console: Console) -> None:
    """Publish the fleet as its devices while ingest stores and the detector follows."""
    url = result.url
    passwords = local.provision_devices(settings, fleet.ids)
    broker = mqtt_endpoint(settings, ServiceAccount.MONITOR)
    pool = SessionPool(broker.host, broker.port, 2)
    expected = fleet.n * sim.steps
    t0 = time.perf_counter()
    with _bars(console) as bars:
        published = bars.add_task("simulate", total=expected, note="")
        stored = bars.add_task("ingest", total=expected, note="samples stored")
        found = bars.add_task("detect", total=None, note="findings")
        stop = threading.Event()

        def watch() -> None:
            while not stop.wait(1.0):
                bars.update(stored, completed=_count(url, "SELECT count(*) FROM samples"))
                bars.update(found, completed=_count(url, "SELECT count(*) FROM findings"))

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()

        def progress(_step: int, samples: int, sim_ms: int) -> None:
            rate = samples / max(time.perf_counter() - t0, 1e-6)
            when = time.strftime("%Y-%m-%d", time.gmtime(sim_ms / 1000))
            bars.update(published, completed=samples, note=f"{rate:,.0f}/s, {when}")

        outcome = simulate(sim, fleet, passwords, pool.submit, progress)
        counters = pool.close()
        if counters.failures:
            raise RuntimeError(f"{len(counters.failures)} uploads failed: {counters.failures[:3]}")
        result.samples_published = counters.samples
        published = time.perf_counter()
        result.timings["simulate_s"] = published - t0
        deadline = time.monotonic() + 600
        while _count(url, "SELECT count(*) FROM samples") < outcome.samples:
            if time.monotonic() > deadline:
                raise RuntimeError("ingest did not store every published sample in time")
            time.sleep(0.5)
        result.timings["ingest_tail_s"] = time.perf_counter() - published
        stop.set()
        watcher.join()
        bars.update(stored, completed=outcome.samples)
        bars.update(found, completed=_count(url, "SELECT count(*) FROM findings"))


def _notify(settings: Settings, fleet: Fleet, result: DemoRun, console: Console) -> None:
    """The notifier on the simulated clock, with owners answering as their devices."""
    url = result.url
    t0 = time.perf_counter()
    regions = {d["device_id"]: d["region"] for d in result.truth["devices"]}
    with psycopg.connect(url, autocommit=True) as conn:
        for region, tz in enumerate(REGION_TIMEZONES):
            ids = [d for d, r in regions.items() if r == region]
            assign_owners(conn, ids, locales=(REGION_LOCALES[region],), timezones=(tz,))
    passwords = local.provision_devices(settings, fleet.ids)
    broker = mqtt_endpoint(settings, ServiceAccount.MONITOR)
    owners = Owners(broker.host, broker.port, passwords, result.plan.seed)
    faults = {(f["device_id"], f["kind"]) for f in result.truth["faults"]}
    notifier = Notifier(settings, database=url)
    start = datetime.fromtimestamp(result.truth["start_ms"] / 1000, UTC)
    end = datetime.fromtimestamp(result.truth["end_ms"] / 1000, UTC)
    hours = int((end - start) / HOUR) + 1
    scheduled: set[str] = set()
    pending: list[Reply] = []
    with _bars(console) as bars:
        sessions = bars.add_task("devices", total=fleet.n, note="offer sessions")
        owners.subscribe_all(fleet.ids, lambda: bars.advance(sessions))
        clock = bars.add_task("notify", total=hours, note="")
        try:
            for hour in range(hours):
                now = start + hour * HOUR
                due = [r for r in pending if r.at_ms <= now.timestamp() * 1000]
                if due:
                    _answer(owners, due, url)
                    pending = [r for r in pending if r not in due]
                notifier.run_once(now)
                with psycopg.connect(url) as conn:
                    sent = conn.execute(
                        "SELECT offer_id::text, device_id, fault_kind,"
                        " (extract(epoch FROM sent_at) * 1000)::bigint"
                        " FROM offers WHERE sent_at IS NOT NULL AND channel = 'device'"
                    ).fetchall()
                for offer_id, device_id, kind, sent_ms in sent:
                    if offer_id in scheduled:
                        continue
                    scheduled.add(offer_id)
                    reply = owners.choose(
                        offer_id, device_id, sent_ms, true_fault=(device_id, kind) in faults
                    )
                    result.replies.append(reply)
                    if reply.answer is not None:
                        pending.append(reply)
                bars.update(
                    clock,
                    completed=hour + 1,
                    note=f"{now:%Y-%m-%d %H:%M}, {len(scheduled)} offers out",
                )
        finally:
            notifier.close()
    result.received_offers = sum(len(v) for v in owners.received.values())
    result.timings["notify_s"] = time.perf_counter() - t0


def _clear_retained(settings: Settings, fleet: Fleet) -> None:
    """An empty retained message on each device's `status` topic removes the one the
    simulator left; ingest is stopped by then, so nothing stores the empty payloads."""
    passwords = local.provision_devices(settings, fleet.ids)
    broker = mqtt_endpoint(settings, ServiceAccount.MONITOR)
    pool = SessionPool(broker.host, broker.port, 2)
    for device_id in fleet.ids:
        pool.submit(Upload(device_id, passwords[device_id], [(Channel.STATUS, b"", True)], 0))
    counters = pool.close()
    if counters.failures:
        raise DemoError(f"could not clear retained statuses: {counters.failures[:3]}")


def _answer(owners: Owners, replies: list[Reply], url: str) -> None:
    """Owners answer as their devices; wait until ingest has stored the answers."""
    before = _count(url, "SELECT count(*) FROM offer_responses")
    for reply in replies:
        owners.answer(reply)
    deadline = time.monotonic() + 60
    while _count(url, "SELECT count(*) FROM offer_responses") < before + len(replies):
        if time.monotonic() > deadline:
            raise RuntimeError("ingest did not store the owners' answers in time")
        time.sleep(0.05)


def report_path(settings: Settings) -> Path:
    return settings.state_dir.resolve() / "demo" / "report.html"
