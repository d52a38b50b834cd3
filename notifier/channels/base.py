"""The channels' extension point: `send(offer) -> SendResult`, one module per channel.

A channel is built from the settings (`from_settings` answers None when it is not
configured), says whether it can reach a recipient at all (`reaches`: an address) and
which consent it needs beyond care offers (`needs_email_consent`). Retries, back-off,
fallback and the record of every attempt are the delivery layer's job, not the channel's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Literal

from devicecare.config import Settings
from devicecare.contracts.vocabulary import Severity, TouchPoint

Purpose = Literal["offer", "reminder"]
REMINDER_SUFFIX = "-reminder"


@dataclass(frozen=True)
class Recipient:
    """A device and its owner, as the channels and the consent checks see them."""

    device_id: str
    model: str | None
    consent_telemetry: bool
    consent_care_offers: bool
    consent_email: bool
    customer_id: str | None = None
    name: str | None = None
    email: str | None = None
    locale: str | None = None
    timezone: str | None = None


@dataclass(frozen=True)
class Outgoing:
    """One message about one offer: the offer itself or its reminder."""

    offer_id: str
    purpose: Purpose
    recipient: Recipient
    fault_kind: str
    kind: str
    severity: Severity
    locale: str
    title: str
    body: str
    created_at: datetime
    expires_at: datetime | None
    links: Mapping[str, str] = field(default_factory=dict)

    @property
    def wire_id(self) -> str:
        """The id the device sees: a reminder is a message of its own for the agent."""
        return self.offer_id + (REMINDER_SUFFIX if self.purpose == "reminder" else "")


@dataclass(frozen=True)
class SendResult:
    ok: bool
    detail: str = ""
    permanent: bool = False
    """The failure will not go away by retrying (e.g. a refused address): fall back now."""
    delivered: bool = False
    """The receiving side confirmed delivery to the customer's app (webhook 2xx)."""


class OfferChannel(ABC):
    """One way to reach a customer."""

    name: ClassVar[str]
    touchpoint: ClassVar[TouchPoint]
    """The `interactions.touchpoint` of what goes through this channel."""
    needs_email_consent: ClassVar[bool] = False

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Settings) -> OfferChannel | None:
        """The channel as configured, or None when it is not configured."""

    def reaches(self, recipient: Recipient) -> bool:
        """Whether the recipient has an address on this channel."""
        return True

    @abstractmethod
    def send(self, offer: Outgoing) -> SendResult: ...

    def close(self) -> None:  # noqa: B027 - most channels hold nothing open
        """Release connections; the channel may be used again afterwards."""
