"""Per-customer policies, as pure decisions: consent and reachability, the cooldown after
a dismissal, and the frequency cap. Each answers None (go on) or `Blocked` with the
reason that `offer_suppressions` records; the rows they look at come from
`notifier.store`, so they are tested without a database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from devicecare.contracts.vocabulary import OfferStatus, Severity, at_least
from notifier.channels.base import OfferChannel, Recipient
from notifier.store import ClosedOffer

REASONS = (
    "consent",
    "no_channel",
    "quiet_hours",
    "cooldown",
    "frequency_cap",
    "storm",
    "undeliverable",
)


@dataclass(frozen=True)
class Blocked:
    reason: str
    recheck_at: datetime | None = None
    detail: dict | None = None

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ValueError(f"unknown suppression reason {self.reason!r}")


def allowed_channels(
    channels: Sequence[OfferChannel], recipient: Recipient
) -> tuple[list[OfferChannel], Blocked | None]:
    """The channels allowed for this recipient now: consent, configured, an address.

    Every offer is built from telemetry, so it needs telemetry and care-offer consent on
    any channel; e-mail needs e-mail consent as well.
    """
    if not (recipient.consent_telemetry and recipient.consent_care_offers):
        return [], Blocked("consent", detail={"missing": _missing(recipient)})
    reachable = [c for c in channels if c.reaches(recipient)]
    allowed = [c for c in reachable if not c.needs_email_consent or recipient.consent_email]
    if allowed:
        return allowed, None
    if reachable:
        return [], Blocked("consent", detail={"missing": ["email"]})
    return [], Blocked("no_channel", detail={"configured": [c.name for c in channels]})


def _missing(recipient: Recipient) -> list[str]:
    return [
        name
        for name, given in (
            ("telemetry", recipient.consent_telemetry),
            ("care_offers", recipient.consent_care_offers),
        )
        if not given
    ]


def cooldown(
    closed: Sequence[ClosedOffer],
    *,
    finding_id: int,
    severity: Severity,
    now: datetime,
    days: float,
) -> Blocked | None:
    """A dismissed offer is not repeated for the same fault unless the severity rose.

    `closed` are the device's declined and expired offers for the fault, latest first.
    The same finding, once declined, gets no offer again at its severity. Another finding
    of the same fault on the device waits `days` after the last declined or unanswered
    (expired) offer, again unless it is more severe.
    """
    window = timedelta(days=days)
    for offer in closed:
        if not at_least(offer.severity, severity):
            continue
        detail = {
            "offer_id": str(offer.offer_id),
            "was": offer.status.value,
            "closed_at": offer.closed_at.isoformat(),
        }
        if offer.status is OfferStatus.DECLINED and offer.finding_id == finding_id:
            return Blocked("cooldown", None, detail | {"same_finding": True})
        if offer.closed_at > now - window:
            return Blocked("cooldown", offer.closed_at + window, detail)
    return None


def frequency_cap(
    made: int,
    oldest: datetime | None,
    *,
    pending: int,
    now: datetime,
    cap: int,
    window_days: float,
) -> Blocked | None:
    """At most `cap` offers per customer (or ownerless device) in `window_days`.

    `made` offers were made in the window, the oldest at `oldest`; `pending` more are
    about to be made in this pass. When the cap is reached, look again when the oldest
    leaves the window.
    """
    used = made + pending
    if used < cap:
        return None
    window = timedelta(days=window_days)
    recheck = oldest + window if oldest is not None else now + window
    return Blocked("frequency_cap", recheck, {"offers": used, "cap": cap, "days": window_days})
