"""The agent's loop: collect what is due, queue it, form batches, publish, follow config.

Everything happens on one thread: collectors run when their interval is due, the sample
goes to the on-disk queue, and when connected the queue is turned into batches (fresh
data first at every upload tick, the backlog after an outage at a bounded rate) and
published from the outbox. Consent is re-read from the store on every turn, so
`devicecare agent consent revoke` in another process stops collection at once.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from agent.collectors import REGISTRY, Collector, CollectorContext, Reading
from agent.consent import Consent
from agent.identity import identify
from agent.settings import AgentSettings
from agent.store import EVENTS, GAUGES, OutboxEntry, Store
from agent.uplink import Outcome, Uplink
from devicecare import __version__
from devicecare.contracts import (
    Channel,
    CollectorConfig,
    CollectorName,
    DeviceConfig,
    DeviceState,
    Event,
    EventBatch,
    Offer,
    Sample,
    SampleDetail,
    Status,
    TelemetryBatch,
    decode,
    encode,
    limits,
    topics,
)
from devicecare.errors import ContractError

log = logging.getLogger(__name__)

IDLE_POLL_S = 5.0
MAX_POLL_S = 1.0
COLLECT_SLACK_S = 0.05
REMOTE_CONFIG = "remote_config"
CONFIG_ERROR = "config_error"
_SAMPLE = msgspec.json.Decoder(Sample)
_EVENT = msgspec.json.Decoder(Event)
_CONFIG = msgspec.json.Decoder(DeviceConfig)
_FIELD = re.compile(r"at `\$\.(\w+)")


def now_ms() -> int:
    return int(time.time() * 1000)


class Agent:
    def __init__(self, settings: AgentSettings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.device_id = settings.device_id
        self.identity = identify(Path(settings.root))
        self.collectors: dict[CollectorName, Collector] = {
            name: cls(self._context(name)) for name, cls in REGISTRY.items()
        }
        self.due: dict[CollectorName, float] = {}
        self.last_sample_ms = 0
        self.unavailable: set[str] = set()
        self.inflight: dict[int, OutboxEntry] = {}
        self.sending: set[int] = set()
        self.next_upload = 0.0
        self.next_status = 0.0
        self.tokens = 1.0
        self.refilled = time.monotonic()
        self.hold_until = 0.0
        self.holds = 0
        self.uplink = Uplink(
            settings,
            will=self._status(DeviceState.OFFLINE),
            on_connect=self._connected,
            on_message=self._received,
        )

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

    # --- the loop

    def run(self, stop: threading.Event) -> None:
        log.info("agent %s for device %s started", __version__, self.device_id)
        while not stop.is_set():
            consent = Consent.load(self.store)
            mono = time.monotonic()
            if consent.telemetry:
                self.collect_due(mono)
            self._settle_acks()
            if self.uplink.connected:
                self._form_batches(mono)
                self._send_outbox()
                if mono >= self.next_status:
                    self._publish_status()
            if consent.any() or any(self.store.unsent()):
                self.uplink.poll(self._timeout(mono))
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
            self.next_upload = 0.0
            self._form_batches(time.monotonic())
            self._send_outbox()
        while self.inflight and self.uplink.connected and time.monotonic() < deadline:
            self.uplink.poll(0.1)
            self._settle_acks()
            self._send_outbox()
        self.uplink.close(self._status(DeviceState.OFFLINE))
        log.info("agent stopped")

    def _timeout(self, mono: float) -> float:
        wake = min([*self.due.values(), self.next_upload, mono + MAX_POLL_S])
        return max(0.0, min(wake - mono, MAX_POLL_S))

    # --- collection

    def intervals(self) -> dict[CollectorName, CollectorConfig]:
        """Local settings, overridden by the remote config, with high resolution applied."""
        effective = dict(self.settings.collectors)
        remote = self.remote_config()
        if remote is not None:
            effective |= remote.collectors
            if remote.high_res is not None and now_ms() < remote.high_res.until:
                fast = remote.high_res.interval_s
                effective = {
                    name: CollectorConfig(cfg.enabled, min(cfg.interval_s, fast))
                    for name, cfg in effective.items()
                }
        return effective

    def upload_interval(self) -> float:
        remote = self.remote_config()
        return float(remote.upload_interval_s if remote else self.settings.upload_interval_s)

    def collect_due(self, mono: float) -> None:
        """Run every collector that is due (or nearly) into one sample.

        Due times stay on each collector's own grid (the last due time plus the
        interval), so collectors with commensurate intervals fire together, and one due
        within `COLLECT_SLACK_S` joins this sample rather than making its own a moment
        later. Sample timestamps strictly increase.
        """
        ms = max(now_ms(), self.last_sample_ms + 1)
        readings: list[Reading] = []
        for name, cfg in self.intervals().items():
            collector = self.collectors.get(name)
            if collector is None or not cfg.enabled:
                self.due.pop(name, None)
                continue
            due = self.due.get(name, mono)
            if due > mono + COLLECT_SLACK_S:
                self.due[name] = min(due, mono + cfg.interval_s)
                continue
            following = due + cfg.interval_s
            self.due[name] = following if following > mono else mono + cfg.interval_s
            try:
                readings.append(collector.collect(ms))
            except Exception:
                log.exception("collector %s failed", name.value)
        if readings:
            self.last_sample_ms = ms
            self._queue(ms, readings)

    def _queue(self, ms: int, readings: list[Reading]) -> None:
        values: dict[str, object] = {}
        zones, mounts = [], []
        events = []
        unavailable: set[str] = set()
        for reading in readings:
            detail = reading.values.pop("detail", None)
            if isinstance(detail, SampleDetail):
                zones += detail.zones
                mounts += detail.mounts
            values |= reading.values
            events += reading.events
            unavailable |= reading.unavailable
        self._note_unavailable(unavailable, set(values))
        if zones or mounts:
            values["detail"] = msgspec.to_builtins(SampleDetail(zones=zones, mounts=mounts))
        sample = self._valid_sample(ms, values) if values else None
        self.store.add(
            None if sample is None else (ms, msgspec.json.encode(sample)),
            [(k.key, k.event.ts, msgspec.json.encode(k.event)) for k in events],
        )

    def _valid_sample(self, ms: int, values: dict[str, object]) -> Sample | None:
        """The sample as the contract accepts it; an implausible reading is left out."""
        values = {"ts": ms, **values}
        while len(values) > 1:
            try:
                return msgspec.convert(values, Sample)
            except msgspec.ValidationError as exc:
                match = _FIELD.search(str(exc))
                if match is None or match[1] not in values or match[1] == "ts":
                    log.warning("dropping a sample the contract refuses: %s", exc)
                    return None
                log.warning("leaving out %s: %s", match[1], exc)
                del values[match[1]]
        return None

    def _note_unavailable(self, missing: set[str], present: set[str]) -> None:
        new = missing - present - self.unavailable
        if new:
            log.info("not available on this device: %s", ", ".join(sorted(new)))
            self.unavailable |= new
            self.next_status = 0.0
        self.unavailable -= present

    # --- batches and publishing

    def _room(self) -> bool:
        """Fewer than `max_inflight` batches await the broker's acknowledgement."""
        return self.store.unsent()[0] < self.settings.max_inflight

    def _form_batches(self, mono: float) -> None:
        limit = self.settings.batch_max_samples
        while self._room() and self.store.queued(EVENTS):
            if not self._batch(EVENTS, limit, newest=False):
                break
        if mono >= self.next_upload:
            self.next_upload = mono + self.upload_interval()
            if self.store.queued(GAUGES):
                self._batch(GAUGES, limit, newest=True)
        rate = self.settings.drain_batches_per_s
        self.tokens = min(max(1.0, rate), self.tokens + (mono - self.refilled) * rate)
        self.refilled = mono
        while self.tokens >= 1 and self._room() and self.store.queued(GAUGES) >= limit:
            self.tokens -= 1
            if not self._batch(GAUGES, limit, newest=False):
                break

    def _batch(self, table: str, limit: int, *, newest: bool) -> bool:
        """Form one batch, with fewer rows if the payload would exceed the wire limit."""
        while limit >= 1:
            try:
                entry = self.store.form_batch(
                    table, limit, newest=newest, build=self._builder(table)
                )
            except PayloadTooLargeError:
                limit //= 2
            else:
                return entry is not None
        log.error("a single %s row exceeds the wire limit; it stays queued", table)
        return False

    def _builder(self, table: str) -> Callable[[int, list[bytes]], bytes]:
        def build(seq: int, bodies: list[bytes]) -> bytes:
            if table == GAUGES:
                message: TelemetryBatch | EventBatch = TelemetryBatch(
                    v=1,
                    device_id=self.device_id,
                    seq=seq,
                    sent_at=now_ms(),
                    samples=[_SAMPLE.decode(b) for b in bodies],
                )
            else:
                message = EventBatch(
                    v=1,
                    device_id=self.device_id,
                    seq=seq,
                    sent_at=now_ms(),
                    events=[_EVENT.decode(b) for b in bodies],
                )
            payload = encode(message)
            if len(payload) > limits.MAX_WIRE_BYTES:
                raise PayloadTooLargeError
            return payload

        return build

    def _send_outbox(self) -> None:
        if time.monotonic() < self.hold_until:
            return
        if sum(self.store.unsent()) <= len(self.sending):
            return  # everything in the outbox is on its way already
        for entry in self.store.outbox():
            if entry.id in self.sending:
                continue
            mid = self.uplink.publish(Channel(entry.channel), entry.payload)
            if mid is None:
                return
            self.inflight[mid] = entry
            self.sending.add(entry.id)

    def _settle_acks(self) -> None:
        acks, self.uplink.acks = self.uplink.acks, []
        for mid, outcome in acks:
            entry = self.inflight.pop(mid, None)
            if entry is None:
                continue
            self.sending.discard(entry.id)
            if outcome is Outcome.UNHEARD:
                self.holds += 1
                wait = min(
                    self.settings.reconnect_max_s,
                    self.settings.reconnect_min_s * 2 ** min(self.holds, 10),
                )
                self.hold_until = time.monotonic() + wait
                log.warning(
                    "no server is listening; keeping %s seq %s, retry in %.0f s",
                    entry.channel,
                    entry.seq,
                    wait,
                )
                continue
            self.holds = 0
            if outcome is Outcome.REFUSED:
                log.warning("broker refused %s batch seq %s", entry.channel, entry.seq)
            self.store.acknowledge(entry, accepted=outcome is Outcome.DELIVERED)

    def _connected(self) -> None:
        """A new session: nothing is in flight on it, so the whole outbox goes again."""
        self.inflight.clear()
        self.sending.clear()
        self._publish_status()

    # --- status, config and offers

    def _status(self, state: DeviceState) -> bytes:
        counters = self.store.counters()
        remote = self.remote_config()
        return encode(
            Status(
                v=1,
                device_id=self.device_id,
                state=state,
                ts=now_ms(),
                agent_version=__version__,
                model=self.identity.model,
                os_name=self.identity.os_name,
                os_version=self.identity.os_version,
                config_revision=remote.revision if remote else None,
                config_error=self.store.get(CONFIG_ERROR),
                queued_samples=self.store.queued(GAUGES),
                published_batches=counters["published_batches"],
                dropped_samples=counters["dropped_samples"],
                sensors_unavailable=sorted(self.unavailable)[:64] or None,
            ),
            compress=False,
        )

    def _publish_status(self) -> None:
        self.uplink.publish(Channel.STATUS, self._status(DeviceState.ONLINE), retain=True)
        self.next_status = time.monotonic() + self.settings.status_interval_s

    def remote_config(self) -> DeviceConfig | None:
        raw = self.store.get(REMOTE_CONFIG)
        return None if raw is None else _CONFIG.decode(raw)

    def _received(self, topic: str, payload: bytes) -> None:
        try:
            where = topics.parse(topic)
        except ContractError as exc:
            log.warning("ignoring message: %s", exc)
            return
        if where.device_id != self.device_id:
            return
        if where.channel is Channel.CONFIG:
            self._apply_config(where, payload)
        elif where.channel is Channel.OFFERS:
            self._offer(where, payload)

    def _apply_config(self, where: topics.DeviceTopic, payload: bytes) -> None:
        if not payload:
            self.store.delete(REMOTE_CONFIG)
            self.store.delete(CONFIG_ERROR)
            log.info("remote config cleared; local settings apply")
        else:
            try:
                config = decode(where, payload)
            except ContractError as exc:
                log.warning("rejected remote config: %s", exc.detail)
                self.store.set(CONFIG_ERROR, f"{exc.reason}: {exc.detail}"[:512])
            else:
                assert isinstance(config, DeviceConfig)
                self.store.set(REMOTE_CONFIG, msgspec.json.encode(config).decode())
                self.store.delete(CONFIG_ERROR)
                self.due.clear()
                self.next_upload = 0.0
                log.info("applied remote config revision %s", config.revision)
        self._publish_status()

    def _offer(self, where: topics.DeviceTopic, payload: bytes) -> None:
        try:
            offer = decode(where, payload)
        except ContractError as exc:
            log.warning("ignoring an offer: %s", exc)
            return
        assert isinstance(offer, Offer)
        if not Consent.load(self.store).care_offers:
            log.info("offer %s not shown: no consent to care offers", offer.offer_id)
            return
        if self.store.save_offer(offer.offer_id, msgspec.json.encode(offer)):
            show(offer)


class PayloadTooLargeError(Exception):
    """A batch encoded above the wire limit; it is formed again with fewer rows."""


def show(offer: Offer) -> None:
    """A desktop notification where the desktop has one; the log otherwise."""
    notify = shutil.which("notify-send")
    hint = f"answer with: devicecare agent respond {offer.offer_id} accept|dismiss"
    if notify:
        try:
            subprocess.run(
                [notify, "--app-name=DeviceCare", offer.title, f"{offer.body}\n\n{hint}"],
                timeout=5,
                check=False,
                capture_output=True,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("notify-send failed: %s", exc)
        else:
            return
    log.info("care offer %s: %s (%s)", offer.offer_id, offer.title, hint)
