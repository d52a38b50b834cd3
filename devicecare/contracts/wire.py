"""Encoding and strict decoding of wire messages, with a reason for every rejection.

A payload is a UTF-8 JSON document, optionally gzip-compressed (recognised by the gzip
magic bytes). Decoding enforces the size limits before and after decompression, the
schema, the device id of the topic and the clock window, and raises ContractError whose
`reason` is one of `RejectReason`.
"""

from __future__ import annotations

import gzip
import time
import zlib
from enum import StrEnum
from typing import Final

import msgspec

from devicecare.contracts import limits
from devicecare.contracts.payloads import (
    ConsentUpdate,
    DeviceConfig,
    EventBatch,
    Offer,
    OfferResponse,
    Status,
    TelemetryBatch,
)
from devicecare.contracts.topics import Channel, DeviceTopic
from devicecare.errors import ContractError

Message = (
    TelemetryBatch | EventBatch | Status | ConsentUpdate | OfferResponse | Offer | DeviceConfig
)

GZIP_MAGIC: Final = b"\x1f\x8b"
COMPRESS_ABOVE_BYTES: Final = 256


class RejectReason(StrEnum):
    OVERSIZED = "oversized"
    UNDECOMPRESSIBLE = "undecompressible"
    MALFORMED = "malformed"
    UNSUPPORTED_VERSION = "unsupported_version"
    INVALID = "invalid"
    DEVICE_MISMATCH = "device_mismatch"
    CLOCK_FUTURE = "clock_future"
    TOO_OLD = "too_old"


class _VersionOnly(msgspec.Struct):
    v: object = None


MESSAGE_TYPES: Final[dict[Channel, type[Message]]] = {
    Channel.TELEMETRY: TelemetryBatch,
    Channel.EVENTS: EventBatch,
    Channel.STATUS: Status,
    Channel.CONSENT: ConsentUpdate,
    Channel.OFFER_RESPONSES: OfferResponse,
    Channel.OFFERS: Offer,
    Channel.CONFIG: DeviceConfig,
}
_DECODERS: Final = {c: msgspec.json.Decoder(t) for c, t in MESSAGE_TYPES.items()}
_VERSION_DECODER: Final = msgspec.json.Decoder(_VersionOnly)
_ENCODER: Final = msgspec.json.Encoder()


def encode(message: Message, *, compress: bool | None = None) -> bytes:
    """Serialise a message; by default gzip it when the JSON exceeds 256 bytes."""
    raw = _ENCODER.encode(message)
    if compress is None:
        compress = len(raw) > COMPRESS_ABOVE_BYTES
    return gzip.compress(raw, compresslevel=6, mtime=0) if compress else raw


def _reject(reason: RejectReason, detail: str, where: DeviceTopic) -> ContractError:
    return ContractError(reason.value, detail, topic=str(where))


def _inflate(payload: bytes, where: DeviceTopic) -> bytes:
    inflater = zlib.decompressobj(wbits=31)
    try:
        raw = inflater.decompress(payload, limits.MAX_JSON_BYTES + 1)
    except zlib.error as exc:
        raise _reject(RejectReason.UNDECOMPRESSIBLE, f"bad gzip stream: {exc}", where) from exc
    if len(raw) > limits.MAX_JSON_BYTES:
        raise _reject(
            RejectReason.OVERSIZED,
            f"decompresses to more than {limits.MAX_JSON_BYTES} bytes",
            where,
        )
    if not inflater.eof:
        raise _reject(RejectReason.UNDECOMPRESSIBLE, "truncated gzip stream", where)
    return raw


def decode(where: DeviceTopic, payload: bytes, *, now_ms: int | None = None) -> Message:
    """Decode and validate the payload received on `where`, or raise ContractError."""
    if len(payload) > limits.MAX_WIRE_BYTES:
        raise _reject(
            RejectReason.OVERSIZED,
            f"{len(payload)} bytes, limit {limits.MAX_WIRE_BYTES}",
            where,
        )
    raw = _inflate(payload, where) if payload[:2] == GZIP_MAGIC else payload
    try:
        message = _DECODERS[where.channel].decode(raw)
    except msgspec.ValidationError as exc:  # a subclass of DecodeError: catch it first
        raise _reject(_validation_reason(raw), str(exc), where) from exc
    except msgspec.DecodeError as exc:
        raise _reject(RejectReason.MALFORMED, str(exc), where) from exc
    claimed = getattr(message, "device_id", where.device_id)
    if claimed != where.device_id:
        raise _reject(
            RejectReason.DEVICE_MISMATCH,
            f"payload names device {claimed!r}, topic {where.device_id!r}",
            where,
        )
    _check_clock(message, where, int(time.time() * 1000) if now_ms is None else now_ms)
    return message


def _validation_reason(raw: bytes) -> RejectReason:
    try:
        version = _VERSION_DECODER.decode(raw).v
    except msgspec.MsgspecError:
        return RejectReason.INVALID
    if version != limits.SCHEMA_VERSION and version is not None:
        return RejectReason.UNSUPPORTED_VERSION
    return RejectReason.INVALID


def _timestamps(message: Message) -> list[int]:
    if isinstance(message, TelemetryBatch):
        return [message.sent_at, *(s.ts for s in message.samples)]
    if isinstance(message, EventBatch):
        return [message.sent_at, *(e.ts for e in message.events)]
    ts = getattr(message, "ts", None)
    return [] if ts is None else [ts]


def _check_clock(message: Message, where: DeviceTopic, now_ms: int) -> None:
    stamps = _timestamps(message)
    if not stamps:
        return
    newest, oldest = max(stamps), min(stamps)
    if newest > now_ms + limits.MAX_FUTURE_SKEW_S * 1000:
        raise _reject(
            RejectReason.CLOCK_FUTURE,
            f"timestamp {newest} is more than {limits.MAX_FUTURE_SKEW_S} s ahead of the server",
            where,
        )
    if oldest < now_ms - limits.MAX_AGE_S * 1000:
        raise _reject(
            RejectReason.TOO_OLD,
            f"timestamp {oldest} is older than {limits.MAX_AGE_S // 86400} days",
            where,
        )
