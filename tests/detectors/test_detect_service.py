"""The live detector worker against the real TimescaleDB: feed, checkpoints, partitions.

Telemetry reaches the database through ingest's own writer (the broker is covered by the
simulator and ingest tests); the detector reads it as it would live.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from detectors.live import feed
from detectors.live.service import DetectService
from devicecare.config import DetectSettings, Settings
from devicecare.contracts import topics
from ingest.intake import Flush, Inbound
from ingest.writer import Writer
from simulator.fleet import Fleet
from simulator.run import Plan, simulate, start_of
from simulator.sessions import Upload

pytestmark = pytest.mark.integration

NOW_MS = 1_790_000_000_000
CFG = DetectSettings(partitions=8, checkpoint_interval_s=3600, idle_wait_s=0.1)


def fleet_uploads(devices: int, days: float, seed: int, faults: str) -> tuple[list[Upload], dict]:
    plan = Plan(devices, days, seed, faults, upload_hours=12)
    fleet = Fleet(devices, seed=seed, start_ms=start_of(plan, NOW_MS), days=days, faults=faults)
    sent: list[Upload] = []
    outcome = simulate(plan, fleet, dict.fromkeys(fleet.ids, "pw"), sent.append)
    truth = {"start_ms": fleet.start_ms, "end_ms": outcome.sim_end_ms, **fleet.truth()}
    return sent, truth


def store(url: str, uploads: list[Upload]) -> None:
    """Write uploads as ingest does, a flush per 200 messages."""
    writer = Writer(url, register_unknown=True)
    flush = Flush()
    for upload in uploads:
        for channel, payload, _ in upload.messages:
            flush.accept(Inbound(topics.topic(upload.device_id, channel), payload, 0, 0), NOW_MS)
            if len(flush) >= 200:
                writer.write(flush)
                flush = Flush()
    if len(flush):
        writer.write(flush)
    writer.close()


def findings(url: str) -> list[tuple[str, str, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT device_id, fault_kind, status FROM findings ORDER BY device_id, fault_kind"
        ).fetchall()


@pytest.fixture(scope="module")
def fleet() -> tuple[list[Upload], dict]:
    return fleet_uploads(30, 24, seed=21, faults="all=12")


def test_the_worker_finds_the_faults_and_writes_the_timeline(db_url: str, fleet) -> None:
    uploads, truth = fleet
    store(db_url, uploads)
    progress = DetectService(db_url, CFG).run(threading.Event(), until_idle=True)
    assert progress.samples == sum(u.samples for u in uploads)
    found = {(d, k) for d, k, _ in findings(db_url)}
    visible = {
        (f["device_id"], f["kind"]) for f in truth["faults"] if f["visible_ms"] < truth["end_ms"]
    }
    assert visible, "the run has faults that become visible within it"
    assert visible <= found
    assert found <= {(f["device_id"], f["kind"]) for f in truth["faults"]}, "no false findings"
    with psycopg.connect(db_url) as conn:
        opened = conn.execute(
            "SELECT count(*) FROM interactions WHERE kind = 'finding_opened'"
            " AND touchpoint = 'system' AND finding_id IS NOT NULL"
        ).fetchone()[0]
        health = conn.execute("SELECT count(*) FROM device_health").fetchone()[0]
        checkpoints = conn.execute(
            "SELECT count(*), sum(devices) FROM detector_checkpoints WHERE owner IS NULL"
        ).fetchone()
    assert opened == len(findings(db_url))
    assert health == 30
    assert checkpoints == (8, 30), "every partition checkpointed and released on the way out"


def test_a_restart_resumes_from_the_checkpoint_without_relearning(db_url: str, fleet) -> None:
    uploads, _ = fleet
    half = len(uploads) // 2
    store(db_url, uploads[:half])
    first = DetectService(db_url, CFG).run(threading.Event(), until_idle=True)
    before = findings(db_url)
    store(db_url, uploads[half:])
    second = DetectService(db_url, CFG)
    progress = second.run(threading.Event(), until_idle=True)
    assert first.samples + progress.samples == sum(u.samples for u in uploads)
    assert sum(len(s) for s in second.states.values()) == 30
    states = [s for part in second.states.values() for s in part.values()]
    assert all(s.first < s.last_ts for s in states), "states span both halves"
    after = findings(db_url)
    assert {(d, k) for d, k, _ in before} <= {(d, k) for d, k, _ in after}
    assert len({(d, k) for d, k, s in after if s == "open"}) == sum(
        1 for _, _, s in after if s == "open"
    ), "one open finding per device and kind"


def test_partitions_move_between_workers_through_checkpoints(db_url: str, fleet) -> None:
    uploads, _ = fleet
    store(db_url, uploads)
    a = DetectService(db_url, CFG, partitions=[0, 1, 2, 3], owner="worker-a")
    b = DetectService(db_url, CFG, partitions=[4, 5, 6, 7], owner="worker-b")
    pa = a.run(threading.Event(), until_idle=True)
    pb = b.run(threading.Event(), until_idle=True)
    assert pa.samples + pb.samples == sum(u.samples for u in uploads)
    owned_a = {d for part in a.states.values() for d in part}
    assert all(feed.partition_of(d, 8) < 4 for d in owned_a)
    opened = len(findings(db_url))
    c = DetectService(db_url, CFG, owner="worker-c")
    progress = c.run(threading.Event(), until_idle=True)
    assert progress.samples == 0, "nothing is processed twice"
    assert sum(len(s) for s in c.states.values()) == 30, "every device's state moved to c"
    assert len(findings(db_url)) == opened


def test_a_held_lease_keeps_a_partition_with_its_worker(db_url: str) -> None:
    holder = DetectService(db_url, CFG, partitions=[0, 1], owner="holder")
    with psycopg.connect(db_url, autocommit=True) as conn:
        holder.step(conn)
        other = DetectService(db_url, CFG, partitions=[1, 2], owner="other")
        other.step(conn)
    assert sorted(holder.states) == [0, 1]
    assert sorted(other.states) == [2]


def test_a_batch_committed_late_is_not_skipped(db_url: str) -> None:
    """A slow ingest transaction that started first and commits last is still read: a
    read stops below it, and takes it and everything after it once it committed."""
    uploads, _ = fleet_uploads(2, 1, seed=3, faults="none")
    store(db_url, [uploads[0]])
    slow = psycopg.connect(db_url)
    slow.execute(
        "INSERT INTO batches (device_id, seq, channel, sent_at, rows, first_ts, last_ts)"
        " VALUES (%s, 10000, 'telemetry', now(), 1, now(), now())",
        (uploads[0].device_id,),
    )
    store(db_url, uploads[1:])
    with psycopg.connect(db_url, autocommit=True) as conn:
        until = feed.horizon(conn)
        early = feed.read(conn, position=0, until=until, partitions=1, owned=[0])
        slow.commit()
        slow.close()
        rest = feed.read(
            conn, position=early.next_position, until=feed.horizon(conn), partitions=1, owned=[0]
        )

    def batches(part: list[Upload]) -> int:
        return sum(1 for u in part for c, _, _ in u.messages if c.value in ("telemetry", "events"))

    assert early.batches == batches(uploads[:1]), "nothing from the open transaction on"
    assert rest.batches == 1 + batches(uploads[1:]), "the late batch and those after it"


def test_detect_and_eval_commands(stack: Settings, db_url: str, tmp_path: Path) -> None:
    uploads, truth = fleet_uploads(12, 14, seed=8, faults="all=20")
    store(db_url, uploads)
    (tmp_path / "truth.json").write_text(json.dumps(truth))
    env = os.environ | {
        "DEVICECARE_STATE_DIR": str(stack.state_dir),
        "DEVICECARE_DATABASE_URL": db_url,
        "DEVICECARE_DETECT__PARTITIONS": "4",
    }

    def run(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "cli", *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    assert "samples" in run("detect", "--until-idle")
    run("eval", "--truth", str(tmp_path / "truth.json"), "--json", str(tmp_path / "eval.json"))
    figures = json.loads((tmp_path / "eval.json").read_text())
    assert {"recall", "precision", "false_per_1000_device_days", "median_lead_days"} <= set(figures)
    assert figures["false_findings"] == 0
    device = next(iter(findings(db_url)))[0]
    table = run("detect", "replay", "--device", device, "--since", "2026-01-01")
    assert "opened" in table


def test_checkpoints_are_written_while_the_worker_runs(db_url: str, fleet) -> None:
    """Not only on the way out: a worker killed between checkpoints loses little. The
    checkpoint period is longer than the lease renewal, as by default (30 s, 60 s / 3)."""
    uploads, _ = fleet
    store(db_url, uploads[: len(uploads) // 3])
    cfg = CFG.model_copy(update={"checkpoint_interval_s": 0.2, "lease_s": 0.3, "read_batches": 20})
    worker = DetectService(db_url, cfg, owner="periodic")
    with psycopg.connect(db_url, autocommit=True) as conn:
        until = time.monotonic() + 0.8
        while not worker.step(conn) or time.monotonic() < until:
            time.sleep(0.01)
        saved = conn.execute(
            "SELECT count(*), sum(devices), min(position::text::bigint)"
            " FROM detector_checkpoints WHERE owner = 'periodic'"
        ).fetchone()
    assert saved[0] == 8, "every partition checkpointed without a shutdown"
    assert 0 < saved[1] <= sum(len(s) for s in worker.states.values())
    assert 0 < saved[2] <= min(worker.positions.values())
