"""Payload models of wire protocol version 1 (see docs/protocol.md).

Messages are frozen msgspec structs: decoding JSON and validating types, ranges and
lengths happen in one pass in C, which keeps strict validation cheap on the ingest hot
path. Timestamps are integer milliseconds since the Unix epoch (UTC).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from devicecare.contracts import limits
from devicecare.contracts.topics import DEVICE_ID_PATTERN

Version = Literal[1]
DeviceId = Annotated[str, Meta(pattern=DEVICE_ID_PATTERN)]
TimestampMs = Annotated[int, Meta(ge=limits.MIN_TIMESTAMP_MS, le=2**53)]
Seq = Annotated[int, Meta(ge=0, le=limits.MAX_SEQ)]
Bytes = Annotated[int, Meta(ge=0, le=limits.MAX_BYTES)]
Percent = Annotated[float, Meta(ge=0, le=100)]
Celsius = Annotated[float, Meta(ge=-40, le=150)]
ShortText = Annotated[str, Meta(min_length=1, max_length=128)]


class _Message(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """Base of every wire message: immutable, unknown fields rejected."""


class ThermalZone(_Message):
    name: ShortText
    temp_c: Celsius
    type: ShortText | None = None


class Mount(_Message):
    path: Annotated[str, Meta(min_length=1, max_length=256)]
    total_bytes: Bytes
    free_bytes: Bytes
    inodes_used_pct: Percent | None = None


class SampleDetail(_Message):
    """Per-zone and per-mount readings behind a sample's summary metrics."""

    zones: Annotated[list[ThermalZone], Meta(max_length=64)] = []
    mounts: Annotated[list[Mount], Meta(max_length=32)] = []


class Sample(_Message):
    """One snapshot of a device's gauges at `ts`; a metric the device lacks is omitted."""

    ts: TimestampMs
    battery_pct: Annotated[Percent, Meta(description="charge level, %")] | None = None
    battery_charging: Annotated[bool, Meta(description="true while charging")] | None = None
    battery_voltage_v: Annotated[float, Meta(ge=0, le=60, description="voltage, V")] | None = None
    battery_current_a: (
        Annotated[float, Meta(ge=-100, le=100, description="current, A; > 0 into the battery")]
        | None
    ) = None
    battery_temp_c: Annotated[Celsius, Meta(description="battery temperature, °C")] | None = None
    battery_full_wh: (
        Annotated[float, Meta(ge=0, le=10_000, description="full-charge capacity now, Wh")] | None
    ) = None
    battery_design_wh: (
        Annotated[float, Meta(ge=0, le=10_000, description="design capacity, Wh")] | None
    ) = None
    battery_cycles: (
        Annotated[int, Meta(ge=0, le=1_000_000, description="charge cycle count")] | None
    ) = None
    cpu_temp_c: Annotated[Celsius, Meta(description="hottest thermal zone, °C")] | None = None
    thermal_throttled: (
        Annotated[bool, Meta(description="true while any cooling device throttles")] | None
    ) = None
    cpu_load_pct: Annotated[Percent, Meta(description="CPU utilisation, %")] | None = None
    storage_total_bytes: Annotated[Bytes, Meta(description="data mount size, bytes")] | None = None
    storage_free_bytes: Annotated[Bytes, Meta(description="data mount free, bytes")] | None = None
    storage_inodes_used_pct: Annotated[Percent, Meta(description="inodes used, %")] | None = None
    flash_wear_pct: (
        Annotated[Percent, Meta(description="flash life used (eMMC/UFS life_time), %")] | None
    ) = None
    flash_pre_eol: (
        Annotated[int, Meta(ge=0, le=3, description="pre_eol_info: 1 normal, 2 warning, 3 urgent")]
        | None
    ) = None
    detail: SampleDetail | None = None

    def __post_init__(self) -> None:
        if (
            self.storage_free_bytes is not None
            and self.storage_total_bytes is not None
            and self.storage_free_bytes > self.storage_total_bytes
        ):
            raise ValueError("storage_free_bytes exceeds storage_total_bytes")


SAMPLE_METRICS: tuple[str, ...] = tuple(
    f for f in Sample.__struct_fields__ if f not in {"ts", "detail"}
)
"""The gauge metrics a sample may carry, in wire order; each is one column of `samples`."""


class EventKind(StrEnum):
    APP_CRASH = "app_crash"
    NATIVE_CRASH = "native_crash"
    KERNEL_OOPS = "kernel_oops"
    KERNEL_PANIC = "kernel_panic"
    REBOOT = "reboot"


class Event(_Message):
    """A discrete event: a crash report, a kernel oops or panic, a reboot."""

    ts: TimestampMs
    kind: EventKind
    process: ShortText | None = None
    signature: ShortText | None = None
    app_version: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    detail: (
        Annotated[
            dict[Annotated[str, Meta(max_length=64)], Annotated[str, Meta(max_length=512)]],
            Meta(max_length=16),
        ]
        | None
    ) = None


class TelemetryBatch(_Message):
    """Uplink on `telemetry`: gauge samples. (device_id, seq) identifies the batch."""

    v: Version
    device_id: DeviceId
    seq: Seq
    sent_at: TimestampMs
    samples: Annotated[list[Sample], Meta(min_length=1, max_length=limits.MAX_SAMPLES_PER_BATCH)]


class EventBatch(_Message):
    """Uplink on `events`: discrete events; shares the device's sequence with telemetry."""

    v: Version
    device_id: DeviceId
    seq: Seq
    sent_at: TimestampMs
    events: Annotated[list[Event], Meta(min_length=1, max_length=limits.MAX_EVENTS_PER_BATCH)]


class DeviceState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class DeviceClass(StrEnum):
    """What kind of device an agent runs on: it sets the physics a detector may expect
    (mains or battery power) and the word a customer text uses."""

    PHONE = "phone"
    TABLET = "tablet"
    LAPTOP = "laptop"
    GATEWAY = "gateway"


class Status(_Message):
    """Uplink on `status` (retained): birth message, last will, agent health."""

    v: Version
    device_id: DeviceId
    state: DeviceState
    ts: TimestampMs | None = None
    agent_version: Annotated[str, Meta(max_length=64)] | None = None
    model: Annotated[str, Meta(min_length=1, max_length=128)] | None = None
    device_class: DeviceClass | None = None
    os_name: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    os_version: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    config_revision: Annotated[int, Meta(ge=0)] | None = None
    config_error: Annotated[str, Meta(max_length=512)] | None = None
    queued_samples: Annotated[int, Meta(ge=0)] | None = None
    published_batches: Annotated[int, Meta(ge=0)] | None = None
    dropped_samples: Annotated[int, Meta(ge=0)] | None = None
    sensors_unavailable: Annotated[list[ShortText], Meta(max_length=64)] | None = None


class ConsentUpdate(_Message):
    """Uplink on `consent`: the owner's current choice per purpose."""

    v: Version
    device_id: DeviceId
    ts: TimestampMs
    telemetry: bool
    care_offers: bool
    email: bool


class Answer(StrEnum):
    ACCEPT = "accept"
    DISMISS = "dismiss"
    WRONG = "wrong"


class OfferResponse(_Message):
    """Uplink on `offer-responses`: the owner's answer to an offer."""

    v: Version
    device_id: DeviceId
    offer_id: Annotated[str, Meta(min_length=1, max_length=64)]
    answer: Answer
    ts: TimestampMs
    comment: Annotated[str, Meta(max_length=500)] | None = None


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Offer(_Message):
    """Downlink on `offers`: a care offer to show the owner."""

    v: Version
    offer_id: Annotated[str, Meta(min_length=1, max_length=64)]
    device_id: DeviceId
    kind: ShortText
    severity: Severity
    title: Annotated[str, Meta(min_length=1, max_length=120)]
    body: Annotated[str, Meta(min_length=1, max_length=2000)]
    created_at: TimestampMs
    locale: Annotated[str, Meta(min_length=2, max_length=16)] = "en"
    expires_at: TimestampMs | None = None
    actions: list[Answer] = msgspec.field(default_factory=lambda: [Answer.ACCEPT, Answer.DISMISS])


class CollectorName(StrEnum):
    BATTERY = "battery"
    THERMAL = "thermal"
    CRASH = "crash"
    STORAGE = "storage"


COLLECTOR_METRICS: dict[CollectorName, tuple[str, ...]] = {
    CollectorName.BATTERY: (
        "battery_pct",
        "battery_charging",
        "battery_voltage_v",
        "battery_current_a",
        "battery_temp_c",
        "battery_full_wh",
        "battery_design_wh",
        "battery_cycles",
    ),
    CollectorName.THERMAL: ("cpu_temp_c", "thermal_throttled", "cpu_load_pct"),
    CollectorName.STORAGE: (
        "storage_total_bytes",
        "storage_free_bytes",
        "storage_inodes_used_pct",
        "flash_wear_pct",
        "flash_pre_eol",
    ),
    CollectorName.CRASH: (),
}
"""The sample metrics each collector reports (crashes come as events, not metrics)."""


IntervalS = Annotated[int, Meta(ge=1, le=86_400)]


class CollectorConfig(_Message):
    enabled: bool = True
    interval_s: IntervalS = 60


class HighResolution(_Message):
    """A time-limited faster sampling mode, e.g. while support investigates a device or a
    detector's evidence is building; `collectors` names the signals concerned (none: all)."""

    until: TimestampMs
    interval_s: IntervalS = 5
    collectors: Annotated[list[CollectorName], Meta(max_length=8)] | None = None


class DeviceConfig(_Message):
    """Downlink on `config` (retained): what the agent collects and how often it uploads."""

    v: Version
    revision: Annotated[int, Meta(ge=0)]
    upload_interval_s: Annotated[int, Meta(ge=10, le=86_400)] = 300
    collectors: dict[CollectorName, CollectorConfig] = {}
    high_res: HighResolution | None = None
