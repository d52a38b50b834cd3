"""Turning received MQTT messages into one flush: validated messages, or dead letters.

Validation is the wire contract's own (`devicecare.contracts.decode`); a message that
fails it becomes exactly one dead letter with the reason, and is acknowledged with the
flush that records it. So does a message on which the decoder itself fails in any other
way (`decoder_error`): the broker would re-deliver it on every restart, so raising here
would stop ingestion for everyone. Nothing here talks to the database.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field

from devicecare.contracts import (
    ConsentUpdate,
    EventBatch,
    OfferResponse,
    Status,
    TelemetryBatch,
    topics,
)
from devicecare.contracts.wire import decode_canonical
from devicecare.errors import ContractError

log = logging.getLogger(__name__)

PAYLOAD_HEAD_BYTES = 1024
DETAIL_CHARS = 1000
DECODER_ERROR = "decoder_error"
SEQ_CONFLICT = "seq_conflict"


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message as the broker delivered it; `generation` is the MQTT connection's."""

    topic: str
    payload: bytes
    mid: int
    generation: int
    qos: int = 1
    received: float = field(default_factory=time.monotonic)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    topic: str
    device_id: str | None
    reason: str
    detail: str
    payload_size: int
    payload_head: bytes

    @classmethod
    def of(cls, inbound: Inbound, reason: str, detail: str, device_id: str | None) -> DeadLetter:
        return cls(
            topic=inbound.topic[:512],
            device_id=device_id,
            reason=reason,
            detail=detail[:DETAIL_CHARS],
            payload_size=len(inbound.payload),
            payload_head=inbound.payload[:PAYLOAD_HEAD_BYTES],
        )


Batch = TelemetryBatch | EventBatch


@dataclass
class Flush:
    """What one database transaction will write, and the messages it acknowledges."""

    messages: list[Inbound] = field(default_factory=list)
    batches: dict[tuple[str, int], tuple[Inbound, Batch]] = field(default_factory=dict)
    digests: dict[tuple[str, int], bytes] = field(default_factory=dict)
    variants: dict[tuple[str, int], list[tuple[Inbound, bytes]]] = field(default_factory=dict)
    """Later messages of a batch in this flush whose content differs from the first one:
    each is a repeat or a conflict, depending on which content is stored."""
    repeats: int = 0
    statuses: list[tuple[Inbound, Status]] = field(default_factory=list)
    consents: list[tuple[Inbound, ConsentUpdate]] = field(default_factory=list)
    responses: list[tuple[Inbound, OfferResponse]] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    samples: int = 0

    def __len__(self) -> int:
        return len(self.messages)

    def devices(self) -> set[str]:
        """Every device a valid message of this flush came from."""
        singles = [*self.statuses, *self.consents, *self.responses]
        return {key[0] for key in self.batches} | {m.device_id for _, m in singles}

    def accept(self, inbound: Inbound, now_ms: int | None = None) -> None:
        """Validate one message into this flush (or record its dead letter)."""
        self.messages.append(inbound)
        device_id = None
        try:
            where = topics.parse(inbound.topic)
            device_id = where.device_id
            message, canonical = decode_canonical(where, inbound.payload, now_ms=now_ms)
        except ContractError as exc:
            self.dead.append(DeadLetter.of(inbound, exc.reason, exc.detail, device_id))
            return
        except Exception as exc:  # any failure of one message is that message's dead letter
            log.exception("the decoder failed on a message on %s", inbound.topic[:512])
            detail = f"{type(exc).__name__}: {exc}"
            self.dead.append(DeadLetter.of(inbound, DECODER_ERROR, detail, device_id))
            return
        if isinstance(message, TelemetryBatch | EventBatch):
            key = (message.device_id, message.seq)
            digest = hashlib.blake2b(canonical, digest_size=16).digest()
            if key not in self.batches:
                self.batches[key] = (inbound, message)
                self.digests[key] = digest
                if isinstance(message, TelemetryBatch):
                    self.samples += len(message.samples)
            elif self.digests[key] == digest:
                self.repeats += 1
            else:
                self.variants.setdefault(key, []).append((inbound, digest))
        elif isinstance(message, Status):
            self.statuses.append((inbound, message))
        elif isinstance(message, ConsentUpdate):
            self.consents.append((inbound, message))
        elif isinstance(message, OfferResponse):
            self.responses.append((inbound, message))
        else:
            self.dead.append(
                DeadLetter.of(inbound, "bad_topic", "not an uplink channel", device_id)
            )

    def reject_devices(self, unknown: set[str]) -> None:
        """Dead-letter every message of devices the policy does not accept."""
        if not unknown:
            return
        for key, (inbound, _) in list(self.batches.items()):
            if key[0] in unknown:
                del self.batches[key]
                later = [i for i, _ in self.variants.pop(key, [])]
                for message in [inbound, *later]:
                    self.dead.append(DeadLetter.of(message, "unknown_device", key[0], key[0]))
        for name in ("statuses", "consents", "responses"):
            kept = []
            for inbound, message in getattr(self, name):
                if message.device_id in unknown:
                    self.dead.append(
                        DeadLetter.of(
                            inbound, "unknown_device", message.device_id, message.device_id
                        )
                    )
                else:
                    kept.append((inbound, message))
            setattr(self, name, kept)
        self.samples = sum(
            len(b.samples) for _, b in self.batches.values() if isinstance(b, TelemetryBatch)
        )


def conflict(key: tuple[str, int]) -> str:
    """The detail of a `seq_conflict` dead letter."""
    return f"batch {key[1]} of {key[0]} was already received with other content; first kept"
