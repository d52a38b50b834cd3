"""The owner's consent, per purpose, as the agent keeps it in its store."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

from agent.outbox import Outbox
from agent.store import CONSENT_KEY, Store
from devicecare.contracts import Channel, ConsentUpdate, encode


@dataclass(frozen=True)
class Consent:
    telemetry: bool = False
    care_offers: bool = False
    email: bool = False

    @classmethod
    def load(cls, store: Store) -> Consent:
        raw = store.get(CONSENT_KEY)
        return cls(**json.loads(raw)) if raw else cls()

    def any(self) -> bool:
        return self.telemetry or self.care_offers or self.email


def record(store: Store, device_id: str, consent: Consent) -> None:
    """Keep the owner's choice and queue the update for the server.

    Withdrawing telemetry consent deletes everything collected and not yet sent, and what
    the collectors remembered, so that a later opt-in starts afresh.
    """
    update = ConsentUpdate(v=1, device_id=device_id, ts=int(time.time() * 1000), **asdict(consent))
    outbox = Outbox(store, device_id)
    with store.transaction():
        store.set(CONSENT_KEY, json.dumps(asdict(consent)))
        outbox.add_message(Channel.CONSENT, encode(update, compress=False))
    if not consent.telemetry:
        with store.transaction():
            outbox.clear()
            store.forget_collected()
        store.compact()
