"""Ingest throughput: DeviceCare ingest end to end, a naive bridge, and a bare COPY ceiling.

In one run on this machine, into the same `samples` hypertable layout (a fresh database
for each contender):

1. DeviceCare ingest (`devicecare ingest`, one worker) fed through the real broker by a
   load generator publishing pre-encoded telemetry batches from several device accounts,
   timed from the first publish until the last row is committed;
2. a naive bridge, as typical MQTT-to-Postgres bridges work: subscribe, json.loads each
   message, one INSERT per sample (autocommit), on a smaller slice of the same batches;
3. a bare binary COPY of the same rows from one connection: no MQTT, no validation.

    .venv/bin/python bench/ingest.py [--samples 1000000] [--batch 100]

The last line is one JSON object with the rates and ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import paho.mqtt.client as mqtt
import psycopg
from psycopg import sql
from rich.console import Console
from rich.table import Table

from devicecare.config import Settings, load_settings
from devicecare.contracts import SAMPLE_METRICS, Channel, Sample, TelemetryBatch, encode, topics
from devicecare.contracts.accounts import ServiceAccount
from devicecare.db.migrate import migrate
from devicecare.endpoints import database_url, mqtt_endpoint
from devicecare.mqttclient import new_client
from devstack import local

DEVICES = 16
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
console = Console(stderr=True)


def make_batches(total: int, per_batch: int) -> list[TelemetryBatch]:
    """Realistic phone samples: every gauge a phone has, values varying by device and time."""
    start = int(time.time() * 1000) - 80 * 86_400_000  # within the 90-day window
    batches = []
    for n in range(total // per_batch):
        device = f"bench-{n % DEVICES:02d}"
        seq = n // DEVICES
        t0 = start + seq * per_batch * 60_000
        samples = [
            Sample(
                ts=t0 + i * 60_000,
                battery_pct=float(90 - (i % 80)),
                battery_charging=i % 7 == 0,
                battery_voltage_v=3.7 + (i % 30) / 100,
                battery_current_a=-0.4 - (i % 9) / 10,
                battery_temp_c=28.0 + (i % 13) / 2,
                battery_full_wh=14.1,
                battery_design_wh=15.4,
                battery_cycles=300 + seq,
                cpu_temp_c=40.0 + (i % 17),
                thermal_throttled=False,
                cpu_load_pct=float(i % 100),
                storage_total_bytes=128_000_000_000,
                storage_free_bytes=20_000_000_000 - i * 4096,
                storage_inodes_used_pct=12.5,
            )
            for i in range(per_batch)
        ]
        batches.append(
            TelemetryBatch(
                v=1, device_id=device, seq=seq, sent_at=t0 + per_batch * 60_000, samples=samples
            )
        )
    return batches


def fresh_database(settings: Settings, name: str) -> str:
    base = database_url(settings)
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = base.rsplit("/", 1)[0] + "/" + name
    migrate(url)
    return url


def stored(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT coalesce(sum(rows), 0) FROM batches").fetchone()
    return int(row[0]) if row else 0


def publish(settings: Settings, payloads: list[tuple[str, bytes]]) -> None:
    """Publish pre-encoded batches from each device's own connection, QoS 1."""
    clients: dict[str, mqtt.Client] = {}
    pending = threading.Semaphore(0)
    for device in sorted({d for d, _ in payloads}):
        client = new_client(mqtt_endpoint(settings, device), device)
        client.max_inflight_messages_set(200)
        client.max_queued_messages_set(0)
        client.on_publish = lambda *_: pending.release()
        endpoint = mqtt_endpoint(settings, device)
        client.connect(endpoint.host, endpoint.port)
        client.loop_start()
        clients[device] = client
    for device, payload in payloads:
        clients[device].publish(topics.topic(device, Channel.TELEMETRY), payload, qos=1)
    for _ in payloads:
        pending.acquire()
    for client in clients.values():
        client.disconnect()
        client.loop_stop()


def run_ingest(
    settings: Settings, work: Path, payloads: list[tuple[str, bytes]], total: int
) -> float:
    url = fresh_database(settings, "bench_ingest")
    env = os.environ | {
        "DEVICECARE_STATE_DIR": str(settings.state_dir),
        "DEVICECARE_DATABASE_URL": url,
        "DEVICECARE_INGEST__METRICS_PORT": "0",
        "DEVICECARE_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "ingest", "--worker", "7"],
        env=env,
        stdout=(work / "ingest.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        time.sleep(3)  # connected and subscribed
        started = time.perf_counter()
        sender = threading.Thread(target=publish, args=(settings, payloads))
        sender.start()
        while stored(url) < total:
            if proc.poll() is not None:
                raise RuntimeError((work / "ingest.log").read_text()[-2000:])
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        sender.join()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    return total / elapsed


def run_naive(settings: Settings, payloads: list[tuple[str, bytes]], total: int) -> float:
    """Subscribe, json.loads, one INSERT per sample: the common bridge pattern."""
    url = fresh_database(settings, "bench_naive")
    columns = ["ts", "device_id", "seq", *SAMPLE_METRICS]
    insert = (
        f"INSERT INTO samples ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"  # noqa: S608
    )
    conn = psycopg.connect(url, autocommit=True)
    done = threading.Event()
    count = [0]

    def on_message(_c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        doc = json.loads(__import__("gzip").decompress(message.payload))
        for s in doc["samples"]:
            conn.execute(
                insert,
                (
                    EPOCH + timedelta(milliseconds=s["ts"]),
                    doc["device_id"],
                    doc["seq"],
                    *(s.get(m) for m in SAMPLE_METRICS),
                ),
            )
            count[0] += 1
        if count[0] >= total:
            done.set()

    endpoint = mqtt_endpoint(settings, ServiceAccount.INGEST)
    bridge = new_client(endpoint, "naive-bridge")
    bridge.on_message = on_message
    bridge.connect(endpoint.host, endpoint.port)
    bridge.subscribe(topics.subscription(Channel.TELEMETRY), qos=1)
    bridge.loop_start()
    time.sleep(1)
    started = time.perf_counter()
    publish(settings, payloads)
    done.wait()
    elapsed = time.perf_counter() - started
    bridge.disconnect()
    bridge.loop_stop()
    conn.close()
    return total / elapsed


def run_copy(settings: Settings, batches: list[TelemetryBatch]) -> float:
    """The same rows, binary COPY from one connection: the ceiling on this machine."""
    url = fresh_database(settings, "bench_copy")
    rows = [
        (
            EPOCH + timedelta(milliseconds=s.ts),
            b.device_id,
            b.seq,
            *msgspec.structs.astuple(s)[1:-1],
            None,
        )
        for b in batches
        for s in b.samples
    ]
    with psycopg.connect(url) as conn:
        types = [
            r[0]
            for r in conn.execute(
                "SELECT udt_name FROM information_schema.columns WHERE table_name = 'samples'"
                " ORDER BY ordinal_position"
            )
        ]
        started = time.perf_counter()
        with conn.cursor().copy("COPY samples FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)
        conn.commit()
        elapsed = time.perf_counter() - started
    return len(rows) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100, help="samples per MQTT message")
    parser.add_argument("--naive-samples", type=int, default=30_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="devicecare-bench-ingest-"))
    work.chmod(0o755)
    settings = load_settings(state_dir=work / "state")
    try:
        local.up(settings)
        settings = local.fill(settings)
        batches = make_batches(args.samples, args.batch)
        total = len(batches) * args.batch
        local.provision_devices(settings, sorted({b.device_id for b in batches}))
        payloads = [(b.device_id, encode(b, compress=True)) for b in batches]
        console.print(f"{total} samples in {len(payloads)} messages of {args.batch}")
        copy_rate = run_copy(settings, batches)
        console.print(f"bare COPY: {copy_rate:,.0f} samples/s")
        ingest_rate = run_ingest(settings, work, payloads, total)
        console.print(f"DeviceCare ingest: {ingest_rate:,.0f} samples/s")
        slice_ = payloads[: max(1, args.naive_samples // args.batch)]
        naive_rate = run_naive(settings, slice_, len(slice_) * args.batch)
        console.print(f"naive bridge: {naive_rate:,.0f} samples/s")
    finally:
        local.down(settings)
        shutil.rmtree(work, ignore_errors=True)
    table = Table("path", "samples/s", "DeviceCare is")
    table.add_row("DeviceCare ingest (MQTT, validation, exactly once)", f"{ingest_rate:,.0f}", "")
    table.add_row(
        "naive bridge (one INSERT per sample)",
        f"{naive_rate:,.0f}",
        f"{ingest_rate / naive_rate:.1f}x",
    )
    table.add_row(
        "bare binary COPY (ceiling)", f"{copy_rate:,.0f}", f"{ingest_rate / copy_rate:.0%}"
    )
    Console().print(table)
    print(
        json.dumps(
            {
                "samples": total,
                "samples_per_message": args.batch,
                "samples_per_s": round(ingest_rate),
                "naive_samples_per_s": round(naive_rate),
                "copy_ceiling_samples_per_s": round(copy_rate),
                "vs_naive": round(ingest_rate / naive_rate, 1),
                "vs_copy_ceiling": round(ingest_rate / copy_rate, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
