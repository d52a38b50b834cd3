"""`devicecare simulate`: step the fleet on its clock and upload as the devices would.

Each device uploads its samples every `upload_hours` of simulated time (staggered over
the fleet), events (crashes) at the step they happen, and at its first upload its status
(model, OS) and its owner's consent. Sequence numbers are per device, shared by
telemetry and events, as for the real agent. With `speed` set, simulated time runs that
many times faster than the wall clock; with `speed=None` as fast as possible.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from devicecare.contracts import (
    Channel,
    ConsentUpdate,
    DeviceState,
    Event,
    EventBatch,
    Sample,
    Status,
    TelemetryBatch,
    encode,
    limits,
)
from simulator.fleet import Fleet
from simulator.sessions import Upload

AGENT_VERSION = "sim-1"


@dataclass
class Plan:
    devices: int
    days: float
    seed: int
    faults: str | None = None
    interval_s: int = 900
    upload_hours: float = 6.0
    speed: float | None = None

    @property
    def steps(self) -> int:
        return int(self.days * 86400 / self.interval_s)

    @property
    def steps_per_upload(self) -> int:
        return max(1, int(self.upload_hours * 3600 / self.interval_s))


@dataclass
class Outcome:
    samples: int = 0
    events: int = 0
    uploads: int = 0
    wall_s: float = 0.0
    sim_end_ms: int = 0
    faults: dict[str, int] = field(default_factory=dict)


def start_of(plan: Plan, now_ms: int) -> int:
    """The run ends now, aligned to the sampling interval, so its data is in the past."""
    step = plan.interval_s * 1000
    return (now_ms - int(plan.days * 86_400_000)) // step * step


def simulate(
    plan: Plan,
    fleet: Fleet,
    passwords: dict[str, str],
    send: Callable[[Upload], None],
    progress: Callable[[int, int, int], None] = lambda *_: None,
) -> Outcome:
    """Run the plan; `send` gets every upload, `progress(step, samples, sim_ms)` each step."""
    n = fleet.n
    seq = [0] * n
    pending: list[list[Sample]] = [[] for _ in range(n)]
    introduced = [False] * n
    outcome = Outcome(faults=_count_faults(fleet))
    every = plan.steps_per_upload
    dt_ms = plan.interval_s * 1000
    wall0 = time.perf_counter()
    for step in range(plan.steps):
        t_ms = fleet.start_ms + step * dt_ms
        tick = fleet.step(t_ms, plan.interval_s)
        crashes: dict[int, list[Event]] = {}
        for device, event in tick.events:
            crashes.setdefault(device, []).append(event)
        outcome.events += len(tick.events)
        last = step == plan.steps - 1
        for device in range(n):
            sample = tick.samples[device]
            if sample is not None:
                pending[device].append(sample)
            messages: list[tuple[Channel, bytes, bool]] = []
            if not introduced[device]:
                messages += _introduction(fleet, device, t_ms)
                introduced[device] = True
            if device in crashes:
                events = crashes[device][: limits.MAX_EVENTS_PER_BATCH]
                batch = EventBatch(
                    v=1, device_id=fleet.ids[device], seq=seq[device], sent_at=t_ms, events=events
                )
                seq[device] += 1
                messages.append((Channel.EVENTS, encode(batch), False))
            samples = 0
            if pending[device] and (last or (step + device) % every == every - 1):
                samples = len(pending[device])
                batch = TelemetryBatch(
                    v=1,
                    device_id=fleet.ids[device],
                    seq=seq[device],
                    sent_at=t_ms,
                    samples=pending[device],
                )
                seq[device] += 1
                pending[device] = []
                messages.append((Channel.TELEMETRY, encode(batch), False))
            if messages:
                send(Upload(fleet.ids[device], passwords[fleet.ids[device]], messages, samples))
                outcome.uploads += 1
                outcome.samples += samples
        progress(step + 1, outcome.samples, t_ms)
        if plan.speed is not None:
            due = wall0 + (t_ms + dt_ms - fleet.start_ms) / 1000 / plan.speed
            time.sleep(max(0.0, due - time.perf_counter()))
    outcome.wall_s = time.perf_counter() - wall0
    outcome.sim_end_ms = fleet.start_ms + plan.steps * dt_ms
    return outcome


def _introduction(fleet: Fleet, device: int, t_ms: int) -> list[tuple[Channel, bytes, bool]]:
    model = fleet.models[device]
    device_id = fleet.ids[device]
    status = Status(
        v=1,
        device_id=device_id,
        state=DeviceState.ONLINE,
        ts=t_ms,
        agent_version=AGENT_VERSION,
        model=model.name,
        device_class=fleet.wide.classes[device],
        os_name=model.os_name,
        os_version=fleet.os_versions[device],
    )
    consent = ConsentUpdate(
        v=1, device_id=device_id, ts=t_ms, telemetry=True, care_offers=True, email=True
    )
    return [
        (Channel.STATUS, encode(status, compress=False), True),
        (Channel.CONSENT, encode(consent, compress=False), False),
    ]


def _count_faults(fleet: Fleet) -> dict[str, int]:
    counts: dict[str, int] = {}
    for fault in fleet.faults:
        counts[fault.kind.value] = counts.get(fault.kind.value, 0) + 1
    return counts
