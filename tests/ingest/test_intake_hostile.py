"""The decoder and the intake against hostile payloads, without broker or database."""

from __future__ import annotations

import gzip
import json

import pytest

from devicecare.contracts import Channel, limits, topics
from devicecare.contracts.wire import decode
from devicecare.errors import ContractError
from ingest import intake
from ingest.intake import DECODER_ERROR, Flush, Inbound
from tests.support.hostile_payloads import corpus, valid
from tests.support.ingest_process import FIXED_MS, telemetry

DEVICE = "dev-hostile"


def nested(levels: int) -> bytes:
    """The issue's payload: a status message with `levels` nested arrays (about 2 KB)."""
    return b'{"v":1,"x":' + b"[" * levels + b"]" * levels + b"}"


def reason_of(channel: Channel, payload: bytes) -> str:
    with pytest.raises(ContractError) as caught:
        decode(topics.parse(topics.topic(DEVICE, channel)), payload, now_ms=FIXED_MS)
    return caught.value.reason


def inbound(channel: Channel, payload: bytes) -> Inbound:
    return Inbound(topics.topic(DEVICE, channel), payload, mid=1, generation=1)


def test_deep_nesting_is_refused_before_the_decoder_runs() -> None:
    payload = nested(1000)
    assert 2000 < len(payload) < 2100
    assert reason_of(Channel.STATUS, payload) == "too_deep"
    assert reason_of(Channel.TELEMETRY, gzip.compress(payload)) == "too_deep"


def test_nesting_up_to_the_limit_reaches_the_schema_check() -> None:
    depth = limits.MAX_JSON_DEPTH - 1  # plus the message object itself
    assert reason_of(Channel.STATUS, nested(depth)) == "invalid"
    assert reason_of(Channel.STATUS, nested(depth + 1)) == "too_deep"


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    doc = {
        "v": 1,
        "device_id": DEVICE,
        "offer_id": "o-1",
        "answer": "wrong",
        "ts": FIXED_MS,
        "comment": '[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{{{{{{{{{{"\\',
    }
    where = topics.parse(topics.topic(DEVICE, Channel.OFFER_RESPONSES))
    message = decode(where, json.dumps(doc).encode(), now_ms=FIXED_MS)
    assert message.comment == doc["comment"]  # type: ignore[union-attr]


def test_unbalanced_brackets_are_malformed() -> None:
    assert reason_of(Channel.STATUS, b'{"v":1,"device_id":"x"' + b"[" * 5) == "malformed"


def test_a_deep_payload_becomes_one_dead_letter_and_the_flush_goes_on() -> None:
    flush = Flush()
    flush.accept(inbound(Channel.STATUS, nested(1000)))
    flush.accept(inbound(Channel.TELEMETRY, telemetry(DEVICE, 1)))
    assert [(d.reason, d.device_id) for d in flush.dead] == [("too_deep", DEVICE)]
    assert list(flush.batches) == [(DEVICE, 1)]


def test_any_failure_of_the_decoder_is_a_dead_letter_not_a_crash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(intake, "decode_canonical", broken)
    flush = Flush()
    flush.accept(inbound(Channel.STATUS, b"{}"))
    assert len(flush) == 1
    assert [(d.reason, d.device_id) for d in flush.dead] == [(DECODER_ERROR, DEVICE)]
    assert flush.dead[0].detail.startswith("RecursionError")


def answer(comment: str) -> bytes:
    doc = {"v": 1, "device_id": DEVICE, "offer_id": "o-1", "answer": "wrong", "ts": FIXED_MS}
    return json.dumps(doc | {"comment": comment}).encode()


def test_nul_in_any_text_field_is_refused_at_decode_time() -> None:
    assert reason_of(Channel.OFFER_RESPONSES, answer("a\x00b")) == "invalid"
    crash = {
        "v": 1,
        "device_id": DEVICE,
        "seq": 1,
        "sent_at": FIXED_MS,
        "events": [{"ts": FIXED_MS, "kind": "app_crash", "detail": {"k\x00": "v"}}],
    }
    assert reason_of(Channel.EVENTS, json.dumps(crash).encode()) == "invalid"
    where = topics.parse(topics.topic(DEVICE, Channel.OFFER_RESPONSES))
    text = decode(where, answer("C:\\u0000 is text, not NUL"), now_ms=FIXED_MS)
    assert text.comment == "C:\\u0000 is text, not NUL"  # type: ignore[union-attr]


STATUS = b'{"v":1,"device_id":"' + DEVICE.encode() + b'","state":"online"'


@pytest.mark.parametrize(
    "payload",
    [
        STATUS + b',"state":"offline"}',
        STATUS + b',"model":"a", "model" :"b"}',
        STATUS + b',"model":"a\\"","model":"b"}',
        STATUS.replace(b'"v":1', b'"v":1,"v":1') + b"}",
        telemetry(DEVICE, 1, 1).replace(b'"cpu_temp_c"', b'"cpu_load_pct":1,"cpu_temp_c"'),
        json.dumps({"v": 1, "device_id": DEVICE, "seq": 1, "sent_at": FIXED_MS, "events": [0]})
        .encode()
        .replace(b"[0]", b'[{"ts":%d,"kind":"reboot","detail":{"a":"1","a":"2"}}]' % FIXED_MS),
    ],
    ids=["top level", "spaced", "escaped", "version", "sample", "event detail"],
)
def test_a_key_named_twice_in_one_object_is_refused(payload: bytes) -> None:
    channel = (
        Channel.TELEMETRY
        if b"samples" in payload
        else Channel.EVENTS
        if b"events" in payload
        else Channel.STATUS
    )
    assert reason_of(channel, payload) == "duplicate_key"


def test_explicit_nulls_and_defaults_are_not_mistaken_for_repeated_keys() -> None:
    where = topics.parse(topics.topic(DEVICE, Channel.STATUS))
    status = decode(where, STATUS + b',"model":null, "os_name" : "Linux"}', now_ms=FIXED_MS)
    assert status.os_name == "Linux"  # type: ignore[union-attr]


def test_trailing_data_after_the_json_or_the_gzip_stream_is_refused() -> None:
    valid = STATUS + b"}"
    assert reason_of(Channel.STATUS, valid + b"{}") == "malformed"
    assert reason_of(Channel.STATUS, gzip.compress(valid) + b"junk") == "undecompressible"
    two_members = gzip.compress(valid) + gzip.compress(valid)
    assert reason_of(Channel.STATUS, two_members) == "undecompressible"


def test_a_resent_batch_with_other_content_in_the_same_flush_is_kept_aside() -> None:
    flush = Flush()
    first = telemetry(DEVICE, 7)
    flush.accept(inbound(Channel.TELEMETRY, first))
    flush.accept(inbound(Channel.TELEMETRY, gzip.decompress(first)))  # same content, plain
    flush.accept(inbound(Channel.TELEMETRY, telemetry(DEVICE, 7, samples=3)))
    assert flush.repeats == 1
    assert flush.dead == [], "which content wins is decided against what is stored"
    assert [len(v) for v in flush.variants.values()] == [1]
    assert len(flush.batches[DEVICE, 7][1].samples) == 20  # type: ignore[union-attr]


def test_every_payload_of_the_hostile_corpus_is_refused_with_its_reason() -> None:
    now = FIXED_MS + 30 * 86_400_000
    entries = corpus(DEVICE, now)
    assert len(entries) >= 50
    assert {e.channel for e in entries} == set(topics.UPLINK_CHANNELS)
    got = [(e.channel.value, e.name, reason_at(e.channel, e.payload, now)) for e in entries]
    assert got == [(e.channel.value, e.name, e.reason) for e in entries]
    for channel in topics.UPLINK_CHANNELS:
        where = topics.parse(topics.topic(DEVICE, channel))
        decode(where, json.dumps(valid(channel, DEVICE, 1, now)).encode(), now_ms=now)


def reason_at(channel: Channel, payload: bytes, now_ms: int) -> str:
    try:
        decode(topics.parse(topics.topic(DEVICE, channel)), payload, now_ms=now_ms)
    except ContractError as exc:
        return exc.reason
    return "accepted"
