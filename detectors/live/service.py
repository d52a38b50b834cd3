"""`devicecare detect`: the live detector worker.

A worker claims the partitions it is given (leases in `detector_checkpoints`), loads
their checkpoints, and then loops: read the feed past its position, hand each device's
block to its `DeviceState`, write the finding changes, and every
`checkpoint_interval_s` (and on SIGTERM) save each partition's states with the feed
position, renewing the leases. Idle, it waits on `LISTEN devicecare_ingest`. A
partition whose lease another worker took is dropped; one left by a stopped worker is
picked up from its checkpoint, without re-learning. Each round also reads the verdicts
on findings stored since the last look (`finding_feedback`, all of them at start):
counted for their cohorts and applied to the devices held; a device taken over or first
seen gets the latest verdict on each of its kinds again.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass

import psycopg

from detectors.live import feed, store
from detectors.live.cohorts import Cohorts
from detectors.live.device import DEVICE_PROFILES, DeviceState
from detectors.live.findings import Change
from detectors.live.metrics import DetectMetrics
from detectors.live.sampling import SamplingRaiser
from detectors.live.verdicts import Verdict
from devicecare.config import DetectSettings
from devicecare.contracts.vocabulary import NotifyChannel

log = logging.getLogger(__name__)


@dataclass
class Progress:
    batches: int = 0
    samples: int = 0
    opened: int = 0
    changes: int = 0


class DetectService:
    def __init__(
        self,
        url: str,
        cfg: DetectSettings,
        partitions: list[int] | None = None,
        profile: str = "device",
        owner: str | None = None,
        *,
        sampling: SamplingRaiser | None = None,
    ) -> None:
        self.url = url
        self.sampling = sampling
        self.cfg = cfg
        self.profile = DEVICE_PROFILES[profile]
        self.wanted = sorted(partitions if partitions is not None else range(cfg.partitions))
        self.owner = owner or f"detect-{socket.gethostname()}-{os.getpid()}"
        self.states: dict[int, dict[str, DeviceState]] = {}
        self.positions: dict[int, int] = {}
        self.cohorts = Cohorts()
        self.progress = Progress()
        self.conn: psycopg.Connection | None = None
        self.saved_at = time.monotonic()
        self.claimed_at = 0.0
        self.dirty: set[str] = set()
        self.metrics = DetectMetrics()
        self.verdicts: dict[str, dict[str, Verdict]] = {}
        """The latest verdict per device and fault kind, for devices taken over later."""

    # --- life cycle

    def run(self, stop: threading.Event, *, until_idle: bool = False) -> Progress:
        """Work until `stop` is set (or, with `until_idle`, until the feed is drained).

        A live worker serves `/metrics` (`metrics_port`, 0: off) while it runs; a drain
        run (`until_idle`) is a batch job that nothing scrapes, and binds no port.
        """
        backoff = 0.2
        if not until_idle:
            self.metrics.serve(self.cfg.metrics_host, self.cfg.metrics_port)
        while not stop.is_set():
            try:
                conn = self._connect()
                caught_up = self.step(conn)
                backoff = 0.2
                if caught_up:
                    if until_idle:
                        break
                    self._wait(conn)
            except psycopg.OperationalError as exc:
                log.warning("database unavailable (%s); retrying in %.1f s", exc, backoff)
                self._drop_connection()
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
        self.shutdown()
        return self.progress

    def shutdown(self) -> None:
        try:
            conn = self._connect()
            self.checkpoint(conn)
            with conn.transaction():
                store.release(conn, self.profile.name, list(self.states), self.owner)
        except psycopg.OperationalError as exc:
            log.error("could not checkpoint on the way out: %s", exc)
        finally:
            self._drop_connection()
            self.metrics.close()
        log.info("detector %s stopped", self.owner)

    def _connect(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed:
            self.conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
            self.conn.execute(f"LISTEN {NotifyChannel.INGEST}")
        return self.conn

    def _drop_connection(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _wait(self, conn: psycopg.Connection) -> None:
        """Until ingest stores something new, or `idle_wait_s`."""
        for _ in conn.notifies(timeout=self.cfg.idle_wait_s, stop_after=1):
            pass

    # --- one round

    def step(self, conn: psycopg.Connection) -> bool:
        """Claim, read, detect, write; checkpoint when due. True when caught up."""
        self._claim(conn)
        if not self.states:
            return True
        self._read_verdicts(conn)
        until = feed.horizon(conn)
        lo = min(self.positions.values())
        if lo >= until:
            self._raise_sampling(conn, [])
            self._maybe_checkpoint(conn)
            return True
        result = feed.read(
            conn,
            position=lo,
            until=until,
            partitions=self.cfg.partitions,
            owned=sorted(self.states),
            limit=self.cfg.read_batches,
            skip=self.positions,
        )
        changes = self._detect(conn, result)
        with conn.transaction():
            opened = store.write_changes(conn, changes)
        self.progress.opened += opened
        self.metrics.read(result.batches, result.samples, opened)
        self.progress.changes += len(changes)
        self.progress.batches += result.batches
        self.progress.samples += result.samples
        for partition in self.states:
            self.positions[partition] = max(self.positions[partition], result.next_position)
        self._raise_sampling(conn, list(result.blocks))
        self._maybe_checkpoint(conn)
        return result.complete

    def _raise_sampling(self, conn: psycopg.Connection, devices: list[str]) -> None:
        """High resolution on suspicion (`detectors.live.sampling`), when it is on: raise
        the sampling of these devices where evidence is building, end raises that are up."""
        if self.sampling is None:
            return
        states = [
            state
            for device_id in devices
            if (states := self.states.get(feed.partition_of(device_id, self.cfg.partitions)))
            and (state := states.get(device_id)) is not None
        ]
        self.sampling.step(conn, states)

    def _detect(self, conn: psycopg.Connection, result: feed.Read) -> list[Change]:
        fresh = []
        changes: list[Change] = []
        for device_id in result.blocks:
            partition = feed.partition_of(device_id, self.cfg.partitions)
            states = self.states.get(partition)
            if states is None:
                continue
            state = states.get(device_id)
            if state is None:
                state = states[device_id] = DeviceState(device_id, self.profile)
            if state.model is None:
                fresh.append(state)
        self._describe(conn, fresh)
        self._recall_verdicts(fresh)
        for device_id, block in result.blocks.items():
            states = self.states.get(feed.partition_of(device_id, self.cfg.partitions))
            if states is None:
                continue
            state = states[device_id]
            changes += state.process(block, self.cohorts, self.profile)
            self.dirty.add(device_id)
        return changes

    def _describe(self, conn: psycopg.Connection, states: list[DeviceState]) -> None:
        """Model, OS name and version of devices not yet known: their cohort and class."""
        if not states:
            return
        by_id = {s.device_id: s for s in states}
        rows = conn.execute(
            "SELECT device_id, model, os_version, os_name FROM devices WHERE device_id = ANY(%s)",
            (list(by_id),),
        ).fetchall()
        for device_id, model, os_version, os_name in rows:
            by_id[device_id].describe(model, os_version, os_name=os_name)

    # --- verdicts on findings

    def _read_verdicts(self, conn: psycopg.Connection) -> None:
        """Verdicts stored since the last look: counted for their cohorts, and applied
        to their devices when this worker holds them."""
        counted = self.cohorts.verdicts
        for verdict in store.verdicts_since(conn, counted.since):
            if not counted.count(verdict):
                continue
            latest = self.verdicts.setdefault(verdict.device_id, {})
            known = latest.get(verdict.kind)
            if known is None or verdict.feedback_id > known.feedback_id:
                latest[verdict.kind] = verdict
            states = self.states.get(feed.partition_of(verdict.device_id, self.cfg.partitions))
            state = None if states is None else states.get(verdict.device_id)
            if state is not None:
                state.apply_feedback(verdict)

    def _recall_verdicts(self, states: list[DeviceState]) -> None:
        """The latest verdict on each kind of the devices just taken over or first seen,
        applied to their states (once: a state remembers the verdicts it applied)."""
        for state in states:
            for verdict in self.verdicts.get(state.device_id, {}).values():
                state.apply_feedback(verdict)

    # --- partitions and checkpoints

    def _claim(self, conn: psycopg.Connection) -> None:
        if self.states and time.monotonic() - self.claimed_at < self.cfg.lease_s / 3:
            return
        with conn.transaction():
            held = store.claim(conn, self.profile.name, self.wanted, self.owner, self.cfg.lease_s)
        taken = [p for p in held if p not in self.states]
        for partition in taken:
            states, position = store.load(conn, self.profile.name, partition)
            self.states[partition] = states
            self.positions[partition] = position or 0
            self._recall_verdicts(list(states.values()))
        if taken:
            log.info(
                "took partitions %s: %d devices from their checkpoints, feed position %s",
                _ranges(taken),
                sum(len(self.states[p]) for p in taken),
                min(self.positions[p] for p in taken),
            )
        for partition in set(self.states) - set(held):
            log.warning("partition %d: lease lost to another worker; dropping it", partition)
            del self.states[partition]
            del self.positions[partition]
        self.metrics.partitions.set(len(self.states))
        self.claimed_at = time.monotonic()

    def _maybe_checkpoint(self, conn: psycopg.Connection) -> None:
        if time.monotonic() - self.saved_at >= self.cfg.checkpoint_interval_s:
            self.checkpoint(conn)

    def checkpoint(self, conn: psycopg.Connection) -> None:
        lost = []
        with conn.transaction():
            for partition, states in self.states.items():
                kept = store.save(
                    conn,
                    profile=self.profile.name,
                    partition=partition,
                    owner=self.owner,
                    states=states,
                    position=self.positions[partition],
                    lease_s=self.cfg.lease_s,
                )
                if not kept:
                    lost.append(partition)
            store.write_health(
                conn,
                [states[d] for states in self.states.values() for d in self.dirty if d in states],
            )
        self.dirty.clear()
        for partition in lost:
            log.warning("partition %d: lease lost to another worker; dropping it", partition)
            del self.states[partition]
            del self.positions[partition]
        self.saved_at = time.monotonic()
        self.metrics.saved(len(self.states))


def _ranges(numbers: list[int]) -> str:
    """[0, 1, 2, 5] -> '0-2,5'"""
    out: list[str] = []
    for n in sorted(numbers):
        if out and out[-1].split("-")[-1] == str(n - 1):
            out[-1] = f"{out[-1].split('-')[0]}-{n}"
        else:
            out.append(str(n))
    return ",".join(out)
