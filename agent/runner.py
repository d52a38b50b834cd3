"""The agent's loop: collect what is due, queue it, form batches, publish, follow config.

The runner only composes the parts, on one thread: the schedule says which collectors
are due, their readings become rows in the outbox before any network work, and when
connected the outbox forms batches (fresh data first at every upload tick, the backlog
after an outage at a bounded rate) that the delivery publishes and settles. The downlink
follows the remote config and offers. Consent is re-read from the store on every turn,
so `devicecare agent consent revoke` in another process stops collection at once.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from agent.collectors import REGISTRY, Collector, CollectorContext, Reading
from agent.consent import Consent
from agent.delivery import Delivery
from agent.downlink import Downlink
from agent.identity import identify
from agent.outbox import Outbox
from agent.readings import Readings
from agent.schedule import Schedule, effective_intervals
from agent.settings import AgentSettings
from agent.store import Store, now_ms
from agent.uplink import Uplink
from devicecare import __version__
from devicecare.contracts import (
    Channel,
    CollectorConfig,
    CollectorName,
    DeviceState,
    Status,
    encode,
)

log = logging.getLogger(__name__)

IDLE_POLL_S = 5.0


class Agent:
    def __init__(self, settings: AgentSettings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.identity = identify(Path(settings.root))
        self.collectors: dict[CollectorName, Collector] = {
            name: cls(self._context(name)) for name, cls in REGISTRY.items()
        }
        self.outbox = Outbox(store, settings.device_id)
        self.schedule = Schedule(settings.drain_batches_per_s)
        self.readings = Readings()
        self.downlink = Downlink(store, settings.device_id, on_config=self._config_changed)
        self.uplink = Uplink(
            settings,
            will=self._status(DeviceState.OFFLINE),
            on_connect=self._connected,
            on_message=self.downlink.received,
        )
        self.delivery = Delivery(settings, self.outbox, self.uplink)
        self.last_sample_ms = 0
        self.next_status = 0.0
        self.telemetry_consent: bool | None = None
        """Last consent state logged, so that a change is said once."""

    def _context(self, name: CollectorName) -> CollectorContext:
        prefix = f"collector.{name.value}."
        return CollectorContext(
            root=Path(self.settings.root),
            seen=self.store.seen,
            remember=self.store.remember,
            state_get=lambda key: self.store.get(prefix + key),
            state_set=lambda key, value: self.store.set(prefix + key, value),
            crash_dirs=tuple(self.settings.crash_dirs),
            mounts=tuple(self.settings.mounts),
        )

    def run(self, stop: threading.Event) -> None:
        log.info("agent %s for device %s started", __version__, self.settings.device_id)
        while not stop.is_set():
            consent = Consent.load(self.store)
            self._say_consent(consent.telemetry)
            mono = time.monotonic()
            if consent.telemetry:
                self.collect_due(mono)
            self.delivery.settle()
            if self.uplink.connected:
                self.form_batches(mono)
                self.delivery.send()
                if mono >= self.next_status:
                    self._publish_status()
            if consent.any() or any(self.outbox.unsent()):
                self.uplink.poll(self.schedule.timeout(mono))
            else:
                self.uplink.close(self._status(DeviceState.OFFLINE))
                stop.wait(IDLE_POLL_S)
        self.shutdown()

    def shutdown(self) -> None:
        """Send what is queued (a device going down should not leave its data stale),
        wait up to 5 s for the acknowledgements, then say offline and disconnect.
        What is not acknowledged by then stays on disk for the next start."""
        deadline = time.monotonic() + 5
        if self.uplink.connected:
            self.schedule.next_upload = 0.0
            self.form_batches(time.monotonic())
            self.delivery.send()
        while self.delivery.inflight and self.uplink.connected and time.monotonic() < deadline:
            self.uplink.poll(0.1)
            self.delivery.settle()
            self.delivery.send()
        self.uplink.close(self._status(DeviceState.OFFLINE))
        log.info("agent stopped")

    # --- collection

    def intervals(self) -> dict[CollectorName, CollectorConfig]:
        """The collectors this agent has, as configured now."""
        effective = effective_intervals(self.settings.collectors, self.downlink.config(), now_ms())
        return {name: cfg for name, cfg in effective.items() if name in self.collectors}

    def collect_due(self, mono: float) -> None:
        """Run every collector that is due (or nearly) into one sample; its timestamp
        strictly increases."""
        ms = max(now_ms(), self.last_sample_ms + 1)
        readings: list[Reading] = []
        for name in self.schedule.collectors_due(self.intervals(), mono):
            try:
                readings.append(self.collectors[name].collect(ms))
            except Exception:
                log.exception("collector %s failed", name.value)
        if readings:
            if self.last_sample_ms == 0:
                values = sorted({key for reading in readings for key in reading.values})
                log.info("first sample collected: %s", ", ".join(values) or "events only")
            self.last_sample_ms = ms
            rows, news = self.readings.rows(ms, readings)
            if news:
                self.next_status = 0.0
            self.outbox.add(rows)

    # --- batches

    def form_batches(self, mono: float) -> None:
        """Events at once; the newest samples at every upload tick; the backlog after an
        outage at `drain_batches_per_s`; never more than `max_inflight` batches unacked."""
        limit = self.settings.batch_max_samples
        while (
            self.delivery.room()
            and self.outbox.queued(Channel.EVENTS)
            and self.outbox.batch(Channel.EVENTS, limit, newest=False)
        ):
            pass
        if self.schedule.upload_due(mono):
            remote = self.downlink.config()
            upload_s = remote.upload_interval_s if remote else self.settings.upload_interval_s
            self.schedule.uploaded(mono, float(upload_s))
            queued = self.outbox.queued(Channel.TELEMETRY)
            if queued:
                self.outbox.batch(Channel.TELEMETRY, limit, newest=True)
            log.info("upload: %d sample(s) queued; next upload in %s", queued, _minutes(upload_s))
        while (
            self.delivery.room()
            and self.outbox.queued(Channel.TELEMETRY) >= limit
            and self.schedule.drain_token(mono)
            and self.outbox.batch(Channel.TELEMETRY, limit, newest=False)
        ):
            pass

    def _say_consent(self, telemetry: bool) -> None:
        """Log when collection starts or stops for consent, so a silent agent explains itself."""
        if telemetry == self.telemetry_consent:
            return
        self.telemetry_consent = telemetry
        if telemetry:
            log.info("telemetry consent given: collecting")
        else:
            log.info("no telemetry consent: collecting nothing (`devicecare agent consent grant`)")

    # --- sessions, config and status

    def _connected(self) -> None:
        self.delivery.new_session()
        self._publish_status()

    def _config_changed(self, applied: bool) -> None:
        if applied:
            self.schedule.restart()
        self._publish_status()

    def _status(self, state: DeviceState) -> bytes:
        counters = self.store.counters()
        remote = self.downlink.config()
        return encode(
            Status(
                v=1,
                device_id=self.settings.device_id,
                state=state,
                ts=now_ms(),
                agent_version=__version__,
                model=self.identity.model,
                os_name=self.identity.os_name,
                os_version=self.identity.os_version,
                config_revision=remote.revision if remote else None,
                config_error=self.downlink.config_error(),
                queued_samples=self.outbox.queued(Channel.TELEMETRY),
                published_batches=counters["published_batches"],
                dropped_samples=counters["dropped_samples"],
                sensors_unavailable=sorted(self.readings.unavailable)[:64] or None,
            ),
            compress=False,
        )

    def _publish_status(self) -> None:
        self.uplink.publish(Channel.STATUS, self._status(DeviceState.ONLINE), retain=True)
        self.next_status = time.monotonic() + self.settings.status_interval_s


def _minutes(seconds: float) -> str:
    """'15 minutes', '1 minute', '30 s': the upload interval as a person reads it."""
    minutes = seconds / 60
    if minutes < 1:
        return f"{seconds:g} s"
    return f"{minutes:g} minute" + ("" if minutes == 1 else "s")
