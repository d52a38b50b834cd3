"""Care API latency under 8 concurrent clients, on 1,000 devices x 60 days, one run.

A scratch database (on the configured server, or a temporary local stack) is filled by
SQL: 500 customers with two devices each, in ten model/OS cohorts, one sample every
`--interval-s` seconds for `--days` days, a few crashes, findings and hotline contacts
per device. `devicecare api` serves it (uvicorn, `--workers` processes); `--clients`
threads then call, each for `--requests` requests per endpoint:

- `GET /healthz`: the baseline (HTTP, routing and the client, no database);
- `GET /devices/{id}`: the device view with its cohort percentiles;
- `GET /devices/{id}/timeline` and `GET /customers/{id}/timeline`;
- `POST /devices/{id}/triage`.

Each endpoint is warmed first (one request per cohort: the cohort figures are cached
per hour, as in production). The last line is one JSON object with p50/p95 per
endpoint in ms, `device_p95_ms`, `timeline_p95_ms` (the slower timeline),
`triage_p95_ms`, and each p95 as a ratio to the baseline's.

    .venv/bin/python bench/api.py [--devices 1000] [--days 60]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

# Run as `python bench/api.py`, this file's folder comes first on the path and the file
# would shadow the `api` package: the project root takes its place.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from api.auth import Role, new_key  # noqa: E402
from care import store  # noqa: E402
from devicecare.config import load_settings  # noqa: E402
from triagelab.evaluate import scratch_database  # noqa: E402

MODELS = [("Pixel 8", "14"), ("Pixel 8", "15"), ("Galaxy S23", "13"), ("Galaxy S23", "14"),
          ("Galaxy Tab S8", "13"), ("Galaxy Tab S8", "14"), ("ThinkPad X1 Carbon", "22.04"),
          ("ThinkPad X1 Carbon", "24.04"), ("Gateway Pi 4", "12"), ("iPhone 15", "17")]  # fmt: skip

FILL_DEVICES = """
INSERT INTO customers (customer_id, name, email)
SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, 'Customer ' || i,
       'c' || i || '@example.invalid'
FROM generate_series(0, %(customers)s - 1) AS i;
"""
DEVICE = """
INSERT INTO devices (device_id, customer_id, model, os_name, os_version, consent_telemetry,
                     consent_care_offers, last_seen_at, agent_version)
VALUES (%s, %s, %s, 'os', %s, true, true, %s, '1.0')
"""
SAMPLES = """
INSERT INTO samples (ts, device_id, seq, battery_pct, battery_charging, battery_temp_c,
                     battery_full_wh, battery_design_wh, battery_cycles, cpu_temp_c,
                     cpu_load_pct, thermal_throttled, storage_total_bytes, storage_free_bytes,
                     flash_wear_pct)
SELECT ts, d.device_id, 0, 20 + random() * 80, random() < 0.3, 25 + random() * 10,
       15 * (0.8 + random() * 0.2), 17, 300 + (random() * 10)::int, 35 + random() * 20,
       random() * 100, random() < 0.02, 128e9::bigint, (40e9 + random() * 1e9)::bigint, 20
FROM devices d, generate_series(%(end)s::timestamptz - %(days)s * INTERVAL '1 day',
                                %(end)s::timestamptz, %(step)s * INTERVAL '1 second') AS ts
WHERE d.device_id = ANY(%(ids)s)
"""
EVENTS = """
INSERT INTO events (ts, device_id, seq, kind, process, signature, app_version)
SELECT %(end)s::timestamptz - random() * %(days)s * INTERVAL '1 day', d.device_id, 0,
       'app_crash', 'com.example.app', 'SIGSEGV libapp.so!fn' || (random() * 5)::int, '1.0'
FROM devices d, generate_series(1, 8) WHERE d.device_id = ANY(%(ids)s)
"""
FINDINGS = """
INSERT INTO findings (device_id, fault_kind, status, severity, confidence, detected_at,
                      resolved_at, detector, reason)
SELECT d.device_id, 'battery_fade', 'resolved', 'medium', 0.8,
       %(end)s::timestamptz - (k * 10 + 5) * INTERVAL '1 day',
       %(end)s::timestamptz - (k * 10) * INTERVAL '1 day', 'capacity_fade',
       'Battery capacity fell faster than similar devices.'
FROM devices d, generate_series(1, 3) AS k WHERE d.device_id = ANY(%(ids)s)
"""
CONTACTS = """
INSERT INTO interactions (ts, customer_id, device_id, touchpoint, kind, actor, summary)
SELECT %(end)s::timestamptz - random() * %(days)s * INTERVAL '1 day', d.customer_id,
       d.device_id, (ARRAY['hotline', 'store', 'web'])[1 + (random() * 2)::int], 'call',
       'bench', 'Owner asked about battery life.'
FROM devices d, generate_series(1, 10) WHERE d.device_id = ANY(%(ids)s)
"""


def fill(url: str, devices: int, days: int, interval_s: int) -> tuple[list[str], list[str]]:
    end = "2025-06-01T00:00:00Z"
    ids = [f"bench-{i:05d}" for i in range(devices)]
    customers = [f"00000000-0000-4000-8000-{i:012x}" for i in range(devices // 2)]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(FILL_DEVICES, {"customers": len(customers)})
        with conn.cursor() as cur:
            cur.executemany(
                DEVICE,
                [(d, customers[i // 2], *MODELS[i % len(MODELS)], end) for i, d in enumerate(ids)],
            )
        for lo in range(0, devices, 100):
            chunk = ids[lo : lo + 100]
            params = {"end": end, "days": days, "step": interval_s, "ids": chunk}
            for query in (SAMPLES, EVENTS, FINDINGS, CONTACTS):
                conn.execute(query, params)
            print(f"filled {lo + len(chunk)} devices", file=sys.stderr, flush=True)
        conn.execute("ANALYZE")
    return ids, customers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:  # noqa: PLR2004
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the API did not become ready")


def measure(
    port: int, key: str, clients: int, requests: int, make: Callable[[random.Random], tuple]
) -> list[float]:
    """Latencies (ms) of `clients` threads each sending `requests` requests."""
    latencies: list[float] = []
    lock = threading.Lock()
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}

    def worker(seed: int) -> None:
        rng = random.Random(seed)  # noqa: S311 - picks request targets, not secrets
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        for _ in range(requests):
            method, path, body = make(rng)
            started = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            mine.append((time.perf_counter() - started) * 1000)
            if response.status >= 400:  # noqa: PLR2004
                raise RuntimeError(f"{method} {path}: {response.status}")
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def pct(values: list[float], q: float) -> float:
    return round(statistics.quantiles(values, n=100)[int(q) - 1], 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--interval-s", type=int, default=900)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=40, help="per client and endpoint")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    settings = load_settings()
    with scratch_database(settings) as url:
        started = time.perf_counter()
        ids, customers = fill(url, args.devices, args.days, args.interval_s)
        fill_s = time.perf_counter() - started
        key = new_key()
        with psycopg.connect(url, autocommit=True) as conn:
            store.add_key(conn, "bench", Role.SUPPORT.value, key)
            samples = conn.execute("SELECT count(*) FROM samples").fetchone()[0]
        port = free_port()
        env = os.environ | {
            "DEVICECARE_DATABASE_URL": url,
            "DEVICECARE_API__POOL_SIZE": str(max(1, args.clients // args.workers + 1)),
            "DEVICECARE_LOG_LEVEL": "WARNING",
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.serve:app", "--factory", "--port", str(port),
             "--workers", str(args.workers), "--log-level", "warning"],
            env=env, cwd=Path(__file__).resolve().parent.parent,
        )  # fmt: skip
        try:
            wait_ready(port)
            endpoints = {
                "healthz": lambda rng: ("GET", "/healthz", None),
                "device": lambda rng: ("GET", f"/devices/{rng.choice(ids)}", None),
                "device_timeline": lambda rng: (
                    "GET", f"/devices/{rng.choice(ids)}/timeline?limit=50", None),
                "customer_timeline": lambda rng: (
                    "GET", f"/customers/{rng.choice(customers)}/timeline?limit=50", None),
                "triage": lambda rng: (
                    "POST", f"/devices/{rng.choice(ids)}/triage",
                    json.dumps({"complaint": rng.choice(["battery", "heat", "crashes"])})),
            }  # fmt: skip
            warm = [ids[i] for i in range(len(MODELS))]
            warm_up = measure(port, key, 1, 1, lambda rng: ("GET", "/healthz", None))
            for device_id in warm:
                for path in (f"/devices/{device_id}",):
                    warm_up += measure(port, key, 1, 1, lambda rng, p=path: ("GET", p, None))
                warm_up += measure(
                    port, key, 1, 1,
                    lambda rng, d=device_id: ("POST", f"/devices/{d}/triage",
                                              json.dumps({"complaint": "battery"})),
                )  # fmt: skip
            results = {}
            for name, make in endpoints.items():
                latencies = measure(port, key, args.clients, args.requests, make)
                results[name] = {"p50_ms": pct(latencies, 50), "p95_ms": pct(latencies, 95)}
                print(f"{name}: {results[name]}", file=sys.stderr, flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)
    base = results["healthz"]["p95_ms"]
    timeline = max(results["device_timeline"]["p95_ms"], results["customer_timeline"]["p95_ms"])
    summary = {
        "devices": args.devices,
        "days": args.days,
        "samples": samples,
        "fill_s": round(fill_s, 1),
        "clients": args.clients,
        "workers": args.workers,
        "endpoints": results,
        "baseline_healthz_p95_ms": base,
        "device_p95_ms": results["device"]["p95_ms"],
        "timeline_p95_ms": timeline,
        "triage_p95_ms": results["triage"]["p95_ms"],
        "device_vs_baseline": round(results["device"]["p95_ms"] / base, 1),
        "timeline_vs_baseline": round(timeline / base, 1),
        "triage_vs_baseline": round(results["triage"]["p95_ms"] / base, 1),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
