"""The wire contract: topics, strict decoding and every rejection reason."""

from __future__ import annotations

import gzip
import time

import msgspec
import pytest

from devicecare.contracts import (
    COLLECTOR_METRICS,
    SAMPLE_METRICS,
    Channel,
    CollectorName,
    ConsentUpdate,
    DeviceConfig,
    Event,
    EventBatch,
    EventKind,
    RejectReason,
    Sample,
    TelemetryBatch,
    decode,
    encode,
    limits,
    topics,
)
from devicecare.contracts.topics import DeviceTopic
from devicecare.errors import ContractError

NOW_MS = int(time.time() * 1000)
WHERE = DeviceTopic("phone-1", Channel.TELEMETRY)


def batch(**overrides: object) -> dict:
    doc: dict = {
        "v": 1,
        "device_id": "phone-1",
        "seq": 7,
        "sent_at": NOW_MS,
        "samples": [{"ts": NOW_MS - 60_000, "battery_pct": 81.5, "battery_charging": False}],
    }
    doc.update(overrides)
    return doc


def reason_of(payload: bytes, where: DeviceTopic = WHERE) -> str:
    with pytest.raises(ContractError) as caught:
        decode(where, payload, now_ms=NOW_MS)
    return caught.value.reason


def test_topics_round_trip() -> None:
    for channel in Channel:
        name = topics.topic("phone-1", channel)
        assert name == f"dc/v1/devices/phone-1/{channel.value}"
        assert topics.parse(name) == DeviceTopic("phone-1", channel)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("dc/v2/devices/phone-1/telemetry", "bad_topic"),
        ("dc/v1/devices/phone-1/telemetry/extra", "bad_topic"),
        ("dc/v1/devices/phone-1/unknown", "bad_topic"),
        ("dc/v1/devices/_ingest/telemetry", "bad_device_id"),
        ("dc/v1/devices/+/telemetry", "bad_device_id"),
        ("dc/v1/devices//telemetry", "bad_device_id"),
    ],
)
def test_bad_topics_are_rejected_with_a_reason(name: str, reason: str) -> None:
    with pytest.raises(ContractError) as caught:
        topics.parse(name)
    assert caught.value.reason == reason


def test_subscription_filters() -> None:
    assert topics.subscription(Channel.EVENTS) == "dc/v1/devices/+/events"
    assert (
        topics.subscription(Channel.TELEMETRY, shared_group="ingest")
        == "$share/ingest/dc/v1/devices/+/telemetry"
    )
    assert topics.acl_pattern(Channel.OFFERS) == "dc/v1/devices/%u/offers"


def test_a_valid_batch_decodes_plain_and_gzipped() -> None:
    raw = msgspec.json.encode(batch())
    for payload in (raw, gzip.compress(raw)):
        message = decode(WHERE, payload, now_ms=NOW_MS)
        assert isinstance(message, TelemetryBatch)
        assert message.samples[0].battery_pct == pytest.approx(81.5)


def test_encode_round_trips_and_compresses_large_batches() -> None:
    samples = [Sample(ts=NOW_MS - i * 1000, battery_pct=50.0, cpu_temp_c=40.0) for i in range(200)]
    message = TelemetryBatch(v=1, device_id="phone-1", seq=1, sent_at=NOW_MS, samples=samples)
    payload = encode(message)
    assert payload[:2] == b"\x1f\x8b"
    assert decode(WHERE, payload, now_ms=NOW_MS) == message
    small = EventBatch(
        v=1,
        device_id="phone-1",
        seq=2,
        sent_at=NOW_MS,
        events=[Event(ts=NOW_MS, kind=EventKind.APP_CRASH, process="cam", signature="s1")],
    )
    assert encode(small)[:1] == b"{"
    assert decode(DeviceTopic("phone-1", Channel.EVENTS), encode(small), now_ms=NOW_MS) == small


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        (batch(v=2), RejectReason.UNSUPPORTED_VERSION),
        (batch(v="1"), RejectReason.UNSUPPORTED_VERSION),
        (batch(device_id="phone-2"), RejectReason.DEVICE_MISMATCH),
        (batch(samples=[]), RejectReason.INVALID),
        (batch(seq=-1), RejectReason.INVALID),
        (batch(seq="7"), RejectReason.INVALID),
        (batch(samples=[{"ts": NOW_MS, "battery_pct": "80"}]), RejectReason.INVALID),
        (batch(samples=[{"ts": NOW_MS, "battery_pct": 180.0}]), RejectReason.INVALID),
        (batch(samples=[{"ts": NOW_MS, "battery_cycles": True}]), RejectReason.INVALID),
        (batch(samples=[{"ts": NOW_MS, "unknown_metric": 1}]), RejectReason.INVALID),
        (batch(samples=[{"ts": float(NOW_MS)}]), RejectReason.INVALID),
        (
            batch(samples=[{"ts": NOW_MS, "storage_total_bytes": 10, "storage_free_bytes": 11}]),
            RejectReason.INVALID,
        ),
        (
            batch(samples=[{"ts": NOW_MS}] * (limits.MAX_SAMPLES_PER_BATCH + 1)),
            RejectReason.INVALID,
        ),
        (batch(samples=[{"ts": NOW_MS + 3_600_000}]), RejectReason.CLOCK_FUTURE),
        (batch(sent_at=NOW_MS + 3_600_000), RejectReason.CLOCK_FUTURE),
        (
            batch(samples=[{"ts": NOW_MS - (limits.MAX_AGE_S + 60) * 1000}]),
            RejectReason.TOO_OLD,
        ),
    ],
)
def test_invalid_batches_are_rejected_with_the_right_reason(doc: dict, reason: str) -> None:
    assert reason_of(msgspec.json.encode(doc)) == reason


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", RejectReason.MALFORMED),
        (b"{not json", RejectReason.MALFORMED),
        (b'{"v": 1, "samples": [NaN]}', RejectReason.MALFORMED),
        (b"[1, 2, 3]", RejectReason.INVALID),
        (b"\x1f\x8bnot really gzip", RejectReason.UNDECOMPRESSIBLE),
        (gzip.compress(b"{}" * 10, mtime=0)[:-12], RejectReason.UNDECOMPRESSIBLE),
        (b" " * (limits.MAX_WIRE_BYTES + 1), RejectReason.OVERSIZED),
        (gzip.compress(b" " * (limits.MAX_JSON_BYTES + 10), mtime=0), RejectReason.OVERSIZED),
    ],
)
def test_bad_payloads_are_rejected_with_the_right_reason(payload: bytes, reason: str) -> None:
    assert reason_of(payload) == reason


def test_infinite_numbers_are_out_of_range() -> None:
    raw = msgspec.json.encode(batch(samples=[{"ts": NOW_MS, "battery_voltage_v": 4.2}]))
    assert reason_of(raw.replace(b"4.2", b"1e400")) == RejectReason.INVALID
    assert reason_of(raw.replace(b"4.2", b"-1e400")) == RejectReason.INVALID


def test_a_zip_bomb_is_stopped_at_the_limit() -> None:
    bomb = gzip.compress(b"0" * (200 * 1024 * 1024))
    assert len(bomb) < limits.MAX_WIRE_BYTES
    assert reason_of(bomb) == RejectReason.OVERSIZED


def test_downlink_config_decodes_and_validates_collectors() -> None:
    where = DeviceTopic("phone-1", Channel.CONFIG)
    good = b'{"v":1,"revision":4,"collectors":{"battery":{"interval_s":30}}}'
    config = decode(where, good, now_ms=NOW_MS)
    assert isinstance(config, DeviceConfig)
    assert config.collectors["battery"].interval_s == 30
    assert reason_of(b'{"v":1,"revision":4,"collectors":{"gps":{}}}', where) == "invalid"
    assert reason_of(b'{"v":1,"revision":4,"upload_interval_s":1}', where) == "invalid"


def test_consent_update_names_its_device() -> None:
    where = DeviceTopic("phone-1", Channel.CONSENT)
    update = ConsentUpdate(
        v=1, device_id="phone-1", ts=NOW_MS, telemetry=False, care_offers=False, email=False
    )
    assert decode(where, encode(update), now_ms=NOW_MS) == update
    spoofed = ConsentUpdate(
        v=1, device_id="phone-9", ts=NOW_MS, telemetry=False, care_offers=False, email=False
    )
    assert reason_of(encode(spoofed), where) == RejectReason.DEVICE_MISMATCH


def test_every_collector_metric_is_a_sample_metric() -> None:
    named = [m for metrics in COLLECTOR_METRICS.values() for m in metrics]
    assert set(COLLECTOR_METRICS) == set(CollectorName)
    assert len(named) == len(set(named)), "each metric has one collector"
    assert set(named) <= set(SAMPLE_METRICS)
