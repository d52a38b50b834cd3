"""Simulated device owners: they get offers on their devices and answer some of them.

Each device keeps a persistent MQTT session subscribed to its own `offers` topic (as the
agent does), so the broker queues the notifier's offers while the device is away. An
owner who answers connects as the device (its own account), collects the queued
offers, and publishes an `OfferResponse` like `devicecare agent respond` does; ingest
stores it and the notifier applies it. How owners answer is drawn with a seed: an owner
whose device really has the fault mostly accepts, one who got an offer for a fault the
device does not have mostly says it was wrong or dismisses it. `assign_owners` gives the
simulated devices plausible owners first (customers in the notifier's store).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import psycopg

from devicecare.contracts import Answer, Channel, OfferResponse, decode, encode, topics
from devicecare.mqttclient import MqttEndpoint, Publisher
from notifier import store

SESSION_EXPIRY_S = 7 * 86_400
TIMEOUT_S = 30.0

TRUE_FAULT = {Answer.ACCEPT: 0.75, Answer.DISMISS: 0.15}
WRONG_FAULT = {Answer.WRONG: 0.5, Answer.DISMISS: 0.4}
"""Answer probabilities; the rest of the probability is no answer at all."""
MEDIAN_DELAY_H = 6.0
DEFAULT_LOCALES = ("en", "de")
DEFAULT_TIMEZONES = ("Europe/Berlin", "Europe/London", "America/New_York", "Asia/Tokyo")


def assign_owners(
    conn: psycopg.Connection,
    device_ids: Iterable[str],
    *,
    locales: Sequence[str] = DEFAULT_LOCALES,
    timezones: Sequence[str] = DEFAULT_TIMEZONES,
    email_domain: str | None = "example.invalid",
) -> dict[str, str]:
    """One customer per device that has none, with locale and time zone taken round-robin
    in device-id order and an address `<device_id>@<email_domain>` (None: no e-mail).
    Devices that have an owner keep it. Returns device id -> customer id for all of them."""
    ids = sorted(set(device_ids))
    owned = store.owners(conn, ids)
    with conn.transaction():
        for index, device_id in enumerate(ids):
            if device_id in owned:
                continue
            owned[device_id] = store.create_customer(
                conn,
                name=f"Owner of {device_id}",
                email=f"{device_id}@{email_domain}" if email_domain else None,
                locale=locales[index % len(locales)],
                timezone=timezones[index % len(timezones)],
                external_ref=f"owner:{device_id}",
            )
            store.attach(conn, device_id, owned[device_id])
    return owned


@dataclass(frozen=True)
class Reply:
    offer_id: str
    device_id: str
    answer: Answer | None
    at_ms: int


class Owners:
    def __init__(self, host: str, port: int, passwords: dict[str, str], seed: int) -> None:
        self.host = host
        self.port = port
        self.passwords = passwords
        self.rng = np.random.default_rng(seed)
        self.received: dict[str, set[str]] = {}

    def choose(self, offer_id: str, device_id: str, sent_ms: int, *, true_fault: bool) -> Reply:
        """Whether and when the owner answers an offer sent at `sent_ms`."""
        odds = TRUE_FAULT if true_fault else WRONG_FAULT
        draw, answer = self.rng.random(), None
        for option, p in odds.items():
            if draw < p:
                answer = option
                break
            draw -= p
        delay_h = min(float(self.rng.lognormal(np.log(MEDIAN_DELAY_H), 0.8)), 72.0)
        return Reply(offer_id, device_id, answer, sent_ms + int(delay_h * 3_600_000))

    def subscribe_all(self, device_ids: list[str], progress: Callable[[], None]) -> None:
        """Give every device its persistent session on its offers topic."""
        for device_id in device_ids:
            with self._session(device_id) as session:
                _wait(session, session.subscribe(topics.topic(device_id, Channel.OFFERS)))
            progress()

    def answer(self, reply: Reply) -> None:
        """Connect as the device, take the queued offers, publish the answer."""
        assert reply.answer is not None
        with self._session(reply.device_id) as session:
            deadline = time.monotonic() + 0.3
            while time.monotonic() < deadline:
                session.loop(0.05)
            response = OfferResponse(
                v=1,
                device_id=reply.device_id,
                offer_id=reply.offer_id,
                answer=reply.answer,
                ts=reply.at_ms,
            )
            topic = topics.topic(reply.device_id, Channel.OFFER_RESPONSES)
            _wait(session, session.publish(topic, encode(response)))

    def _session(self, device_id: str) -> _Session:
        return _Session(self, device_id)


class _Session:
    """A connection as one device that resumes its persistent session."""

    def __init__(self, owners: Owners, device_id: str) -> None:
        self.owners = owners
        self.device_id = device_id
        endpoint = MqttEndpoint(owners.host, owners.port, device_id, owners.passwords[device_id])
        self.publisher = Publisher(endpoint, device_id, on_message=self._on_message)

    def _on_message(self, topic: str, payload: bytes) -> None:
        where = topics.parse(topic)
        offer = decode(where, payload)
        self.owners.received.setdefault(self.device_id, set()).add(offer.offer_id)  # type: ignore[union-attr]

    def __enter__(self) -> Publisher:
        self.publisher.connect(keepalive=60, session_expiry_s=SESSION_EXPIRY_S)
        self.publisher.wait_connected(TIMEOUT_S)
        return self.publisher

    def __exit__(self, *_exc: object) -> None:
        self.publisher.close()


def _wait(session: Publisher, mid: int | None) -> None:
    """Until the broker acknowledged the publish or subscription `mid`."""
    if mid is None:
        raise ConnectionError("the client could not queue the message")
    session.wait([mid], TIMEOUT_S)
