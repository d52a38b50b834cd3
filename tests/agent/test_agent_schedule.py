"""The agent's schedule: collectors due together make one sample; uploads and drain rate."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec

from agent.runner import Agent
from agent.schedule import MAX_POLL_S, Schedule, effective_intervals
from agent.settings import AgentSettings
from agent.store import Store
from devicecare.contracts import (
    Channel,
    CollectorConfig,
    CollectorName,
    DeviceConfig,
    HighResolution,
)
from tests.support.agent_process import fake_device


def test_collectors_on_one_grid_share_a_sample_and_stamps_increase(tmp_path: Path) -> None:
    settings = AgentSettings(
        device_id="dev-schedule",
        root=str(fake_device(tmp_path / "device")),
        crash_dirs=[],
        collectors={
            CollectorName.BATTERY: CollectorConfig(interval_s=1),
            CollectorName.THERMAL: CollectorConfig(interval_s=1),
            CollectorName.CRASH: CollectorConfig(enabled=False),
            CollectorName.STORAGE: CollectorConfig(interval_s=2),
        },
    )
    store = Store(tmp_path / "agent.db", budget_bytes=1 << 20)
    store.set("consent", json.dumps({"telemetry": True}))
    agent = Agent(settings, store)
    # The loop wakes a little late each time, as a real one does; the storage collector
    # (every 2 s) must join the battery and thermal sample, not make one of its own.
    for mono in (100.0, 101.0004, 102.0009, 102.0011, 103.0015, 104.0003, 104.0004):
        agent.collect_due(mono)
    rows = store.db.execute(
        "SELECT ts, body FROM queue WHERE channel = ? ORDER BY id", (Channel.TELEMETRY,)
    ).fetchall()
    stamps = [ts for ts, _ in rows]
    assert len(rows) == 5
    assert stamps == sorted(set(stamps)), "sample timestamps strictly increase"
    with_storage = ["storage_total_bytes" in msgspec.json.decode(body) for _, body in rows]
    assert with_storage == [True, False, True, False, True]
    store.close()


def test_fresh_data_goes_every_upload_tick_and_the_backlog_at_the_drain_rate() -> None:
    schedule = Schedule(drain_batches_per_s=2.0)
    assert schedule.upload_due(10.0), "the first upload goes at once"
    schedule.uploaded(10.0, 900.0)
    assert not schedule.upload_due(909.9)
    assert schedule.upload_due(910.0)
    taken = [schedule.drain_token(t) for t in (0.0, 0.0, 0.0, 0.25, 0.5, 0.5, 0.5)]
    assert taken == [True, False, False, False, True, False, False]
    assert sum(schedule.drain_token(100.0) for _ in range(5)) == 2, "a burst is capped"
    schedule.restart()
    assert schedule.upload_due(100.0), "a new config uploads at once"


def test_remote_config_and_high_resolution_override_the_local_intervals() -> None:
    local = {
        CollectorName.BATTERY: CollectorConfig(interval_s=60),
        CollectorName.STORAGE: CollectorConfig(interval_s=900),
    }
    remote = DeviceConfig(
        v=1,
        revision=3,
        collectors={CollectorName.STORAGE: CollectorConfig(enabled=False, interval_s=900)},
        high_res=HighResolution(interval_s=5, until=2_000),
    )
    assert effective_intervals(local, None, 1_000) == local
    during = effective_intervals(local, remote, 1_000)
    assert during[CollectorName.BATTERY] == CollectorConfig(interval_s=5)
    assert during[CollectorName.STORAGE] == CollectorConfig(enabled=False, interval_s=5)
    after = effective_intervals(local, remote, 2_000)
    assert after[CollectorName.BATTERY] == CollectorConfig(interval_s=60)


def test_high_resolution_for_named_collectors_leaves_the_others_alone() -> None:
    local = {
        CollectorName.BATTERY: CollectorConfig(interval_s=60),
        CollectorName.THERMAL: CollectorConfig(interval_s=60),
    }
    remote = DeviceConfig(
        v=1,
        revision=4,
        high_res=HighResolution(interval_s=10, until=2_000, collectors=[CollectorName.BATTERY]),
    )
    during = effective_intervals(local, remote, 1_000)
    assert during[CollectorName.BATTERY] == CollectorConfig(interval_s=10)
    assert during[CollectorName.THERMAL] == CollectorConfig(interval_s=60)


def test_the_loop_waits_for_what_is_ahead_and_never_spins_on_what_is_past() -> None:
    schedule = Schedule(drain_batches_per_s=2.0)
    assert schedule.timeout(100.0) == MAX_POLL_S, "offline: the first upload tick is past"
    schedule.collectors_due({CollectorName.BATTERY: CollectorConfig(interval_s=60)}, 100.0)
    schedule.uploaded(100.0, 0.5)
    assert schedule.timeout(100.0) == 0.5
    assert schedule.timeout(500.0) == MAX_POLL_S, "collectors not run (no consent) are past"
