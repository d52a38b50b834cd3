"""The wire contract shared by agent, ingest, notifier and tests: topics, payloads, limits.

Nothing outside this package spells a topic or a payload field.
"""

from devicecare.contracts import limits, topics
from devicecare.contracts.payloads import (
    COLLECTOR_METRICS,
    SAMPLE_METRICS,
    Answer,
    CollectorConfig,
    CollectorName,
    ConsentUpdate,
    DeviceClass,
    DeviceConfig,
    DeviceState,
    Event,
    EventBatch,
    EventKind,
    HighResolution,
    Mount,
    Offer,
    OfferResponse,
    Sample,
    SampleDetail,
    Severity,
    Status,
    TelemetryBatch,
    ThermalZone,
)
from devicecare.contracts.topics import Channel, DeviceTopic
from devicecare.contracts.wire import MESSAGE_TYPES, Message, RejectReason, decode, encode

__all__ = [
    "COLLECTOR_METRICS",
    "MESSAGE_TYPES",
    "SAMPLE_METRICS",
    "Answer",
    "Channel",
    "CollectorConfig",
    "CollectorName",
    "ConsentUpdate",
    "DeviceClass",
    "DeviceConfig",
    "DeviceState",
    "DeviceTopic",
    "Event",
    "EventBatch",
    "EventKind",
    "HighResolution",
    "Message",
    "Mount",
    "Offer",
    "OfferResponse",
    "RejectReason",
    "Sample",
    "SampleDetail",
    "Severity",
    "Status",
    "TelemetryBatch",
    "ThermalZone",
    "decode",
    "encode",
    "limits",
    "topics",
]
