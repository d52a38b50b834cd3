"""A generated corpus of malformed and hostile payloads for every uplink channel.

Each entry is derived from a valid message of its channel by one mutation (broken
encodings, structure attacks, schema violations, spoofing, clock abuse) and names the
dead-letter reason the protocol (docs/protocol.md) gives for it. `valid` makes the
well-formed message of a channel that a test sends after each hostile one.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass

from devicecare.contracts import Channel, limits, topics

Doc = dict[str, object]
_DEEP = b"[" * 1000 + b"]" * 1000


@dataclass(frozen=True)
class Hostile:
    name: str
    channel: Channel
    payload: bytes
    reason: str


def valid(channel: Channel, device_id: str, n: int, now_ms: int) -> Doc:
    """The n-th well-formed message of `channel`: distinct seq, offer id and timestamp."""
    ts = now_ms - 3_600_000 + n * 1000
    head: Doc = {"v": 1, "device_id": device_id}
    if channel is Channel.TELEMETRY:
        sample = {"ts": ts, "battery_pct": 50.0, "cpu_temp_c": 40.0}
        return head | {"seq": n, "sent_at": ts, "samples": [sample]}
    if channel is Channel.EVENTS:
        event = {"ts": ts, "kind": "app_crash", "process": "com.example"}
        return head | {"seq": n, "sent_at": ts, "events": [event]}
    if channel is Channel.STATUS:
        return head | {"state": "online", "ts": ts, "model": "Pixel 8"}
    if channel is Channel.CONSENT:
        return head | {"ts": ts, "telemetry": True, "care_offers": True, "email": False}
    if channel is Channel.OFFER_RESPONSES:
        return head | {"offer_id": f"o-{n}", "answer": "accept", "ts": ts, "comment": "ok"}
    raise ValueError(f"{channel} is not an uplink channel")


def _text_field(doc: Doc) -> str:
    """A string field of the message that is not the device id."""
    for field in ("comment", "model"):
        if field in doc:
            return field
    return "samples" if "samples" in doc else "events" if "events" in doc else "ts"


def _with_nul(doc: Doc) -> Doc:
    if "samples" in doc:
        sample = doc["samples"][0] | {"detail": {"zones": [{"name": "cpu\x00", "temp_c": 1}]}}  # type: ignore[index]
        return doc | {"samples": [sample]}
    if "events" in doc:
        return doc | {"events": [doc["events"][0] | {"signature": "SIG\x00SEGV"}]}  # type: ignore[index]
    if "comment" in doc or "model" in doc:
        return doc | {_text_field(doc): "a\x00b"}
    return doc | {"device_id": f"{doc['device_id']}\x00"}


def _timestamp(doc: Doc, value: object) -> Doc:
    """`doc` with its (first) timestamp replaced."""
    if "samples" in doc:
        return doc | {"samples": [doc["samples"][0] | {"ts": value}]}  # type: ignore[index]
    if "events" in doc:
        return doc | {"events": [doc["events"][0] | {"ts": value}]}  # type: ignore[index]
    return doc | {"ts": value}


def _dumps(doc: Doc) -> bytes:
    return json.dumps(doc).encode()


def _mutations(now_ms: int) -> list[tuple[str, Callable[[Doc], bytes], str]]:
    day = 86_400_000
    bomb = gzip.compress(b" " * (limits.MAX_JSON_BYTES + 1024))
    return [
        ("empty", lambda d: b"", "malformed"),
        ("not json", lambda d: b"\xff\xfe not json at all", "malformed"),
        ("truncated json", lambda d: _dumps(d)[:-3], "malformed"),
        ("trailing object", lambda d: _dumps(d) + b"{}", "malformed"),
        ("two documents", lambda d: _dumps(d) + b"\n" + _dumps(d), "malformed"),
        ("NaN", lambda d: _dumps(d).replace(b'"v": 1', b'"v": NaN'), "malformed"),
        ("array", lambda d: b"[" + _dumps(d) + b"]", "invalid"),
        ("string", lambda d: b'"hello"', "invalid"),
        ("duplicate v", lambda d: _dumps(d).replace(b'"v": 1', b'"v": 1, "v": 1'), "duplicate_key"),
        (
            "duplicate device id",
            lambda d: _dumps(d).replace(b'"v": 1', b'"v": 1, "device_id": "x"'),
            "duplicate_key",
        ),
        ("nested 1000", lambda d: _dumps(d | {"x": "@"}).replace(b'"@"', _DEEP), "too_deep"),
        (
            "nested 17 gzip",
            lambda d: gzip.compress(_dumps(d | {"x": json.loads("[" * 16 + "]" * 16)})),
            "too_deep",
        ),
        ("nul", lambda d: _dumps(_with_nul(d)), "invalid"),
        ("version 2", lambda d: _dumps(d | {"v": 2}), "unsupported_version"),
        ("version string", lambda d: _dumps(d | {"v": "1"}), "unsupported_version"),
        ("no version", lambda d: _dumps({k: v for k, v in d.items() if k != "v"}), "invalid"),
        ("unknown field", lambda d: _dumps(d | {"admin": True}), "invalid"),
        (
            "no device id",
            lambda d: _dumps({k: v for k, v in d.items() if k != "device_id"}),
            "invalid",
        ),
        ("bad device id", lambda d: _dumps(d | {"device_id": "../../etc"}), "invalid"),
        (
            "spoofed device id",
            lambda d: _dumps(d | {"device_id": "someone-else"}),
            "device_mismatch",
        ),
        ("float timestamp", lambda d: _dumps(_timestamp(d, now_ms + 0.5)), "invalid"),
        ("string timestamp", lambda d: _dumps(_timestamp(d, str(now_ms))), "invalid"),
        ("negative timestamp", lambda d: _dumps(_timestamp(d, -1)), "invalid"),
        ("clock far ahead", lambda d: _dumps(_timestamp(d, now_ms + day)), "clock_future"),
        ("too old", lambda d: _dumps(_timestamp(d, now_ms - 100 * day)), "too_old"),
        ("broken gzip", lambda d: b"\x1f\x8b\x08\x00garbage", "undecompressible"),
        ("truncated gzip", lambda d: gzip.compress(_dumps(d))[:-6], "undecompressible"),
        ("gzip then junk", lambda d: gzip.compress(_dumps(d)) + b"junk", "undecompressible"),
        ("oversized", lambda d: _dumps(d | {"pad": "x" * limits.MAX_WIRE_BYTES}), "oversized"),
        ("zip bomb", lambda d: bomb, "oversized"),
    ]


_SPECIFIC: dict[Channel, list[tuple[str, Callable[[Doc], Doc], str]]] = {
    Channel.TELEMETRY: [
        ("no samples", lambda d: d | {"samples": []}, "invalid"),
        ("too many samples", lambda d: d | {"samples": d["samples"] * 2001}, "invalid"),  # type: ignore[operator]
        ("negative seq", lambda d: d | {"seq": -1}, "invalid"),
        ("seq over 2^63", lambda d: d | {"seq": 2**63}, "invalid"),
        (
            "battery 101 %",
            lambda d: d | {"samples": [d["samples"][0] | {"battery_pct": 101}]},
            "invalid",
        ),  # type: ignore[index]
        (
            "bool as 1",
            lambda d: d | {"samples": [d["samples"][0] | {"battery_charging": 1}]},
            "invalid",
        ),  # type: ignore[index]
        (
            "free over total",
            lambda d: (
                d
                | {
                    "samples": [
                        d["samples"][0] | {"storage_total_bytes": 1, "storage_free_bytes": 2}
                    ]
                }
            ),  # type: ignore[index]
            "invalid",
        ),
    ],
    Channel.EVENTS: [
        (
            "unknown kind",
            lambda d: d | {"events": [d["events"][0] | {"kind": "rm -rf"}]},
            "invalid",
        ),  # type: ignore[index]
        (
            "detail not text",
            lambda d: d | {"events": [d["events"][0] | {"detail": {"a": 1}}]},
            "invalid",
        ),  # type: ignore[index]
        (
            "17 detail keys",
            lambda d: (
                d | {"events": [d["events"][0] | {"detail": {str(i): "x" for i in range(17)}}]}
            ),
            "invalid",
        ),  # type: ignore[index]
    ],
    Channel.STATUS: [
        ("unknown state", lambda d: d | {"state": "pwned"}, "invalid"),
        ("long model", lambda d: d | {"model": "m" * 129}, "invalid"),
    ],
    Channel.CONSENT: [
        ("consent as 0", lambda d: d | {"telemetry": 0}, "invalid"),
        ("consent missing", lambda d: {k: v for k, v in d.items() if k != "email"}, "invalid"),
    ],
    Channel.OFFER_RESPONSES: [
        ("unknown answer", lambda d: d | {"answer": "delete-all"}, "invalid"),
        ("long comment", lambda d: d | {"comment": "c" * 501}, "invalid"),
        ("empty offer id", lambda d: d | {"offer_id": ""}, "invalid"),
    ],
}


def corpus(device_id: str, now_ms: int) -> list[Hostile]:
    """Every mutation applied to a valid message of every uplink channel."""
    out = []
    for channel in topics.UPLINK_CHANNELS:
        base = valid(channel, device_id, 0, now_ms)
        for name, mutate, reason in _mutations(now_ms):
            out.append(Hostile(name, channel, mutate(base), reason))
        for name, change, reason in _SPECIFIC[channel]:
            out.append(Hostile(name, channel, _dumps(change(base)), reason))
    return out
