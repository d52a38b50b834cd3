"""Delivery: created offers go out when due, through the first allowed channel that works.

At send time consent and reachability are checked again (an offer whose consent was
withdrawn is held, not sent), then quiet hours in the customer's time zone (the offer is
deferred to their end, unless its severity is exempt). Each channel gets
`retry_attempts` tries with exponential back-off (`retry_base_s` * 2^(n-1), at most
`retry_max_s`); a channel that keeps failing, or fails permanently, hands the offer to
the next allowed channel in the same pass. Every attempt is an `offer_attempts` row.
A critical offer unanswered `reminder_after_h` after it was sent gets one reminder.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import psycopg

from devicecare.config import NotifierSettings
from devicecare.contracts.vocabulary import Severity, TouchPoint
from notifier import policies, store
from notifier.channels.base import OfferChannel, Outgoing, Purpose, Recipient, SendResult
from notifier.quiet import QuietHours, zone
from notifier.rules import TITLE_MAX
from notifier.signing import answer_links
from notifier.store import Attempt, ChannelTries, Interaction, OfferRow, Suppression

log = logging.getLogger(__name__)

BATCH = 500
MAX_BATCHES = 100
RECHECK_HELD = timedelta(hours=1)
REMINDED_SEVERITY = Severity.CRITICAL
"""Only offers of this severity get a reminder."""
REMINDER_WORD = {"en": "Reminder", "de": "Erinnerung"}
SENT_SUMMARY = {
    "device": "Offer sent to the device",
    "email": "Offer sent by e-mail",
    "webhook": "Offer sent to the customer's app (webhook)",
}


@dataclass
class DeliverReport:
    sent: int = 0
    reminders: int = 0
    failed_attempts: int = 0
    deferred: int = 0
    held: int = 0
    undeliverable: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)
    """Messages sent, per channel."""
    failed_by_channel: dict[str, int] = field(default_factory=dict)
    """Failed attempts, per channel."""


@dataclass(frozen=True)
class SendOutcome:
    """How one delivery pass for one message ended: sent, to be retried, or out of tries."""

    kind: Literal["sent", "retry", "exhausted"]
    channel: OfferChannel | None = None
    result: SendResult | None = None
    retry_at: datetime | None = None


def backoff(failures: int, *, base_s: float, max_s: float) -> timedelta:
    """The wait before the next try after `failures` failed ones: doubling, capped."""
    return timedelta(seconds=min(base_s * 2 ** (failures - 1), max_s))


def usable(
    allowed: Sequence[OfferChannel], tries: Mapping[str, ChannelTries], attempts: int
) -> list[tuple[OfferChannel, int]]:
    """The allowed channels that still have tries left, with their failures so far."""
    found = []
    for channel in allowed:
        t = tries.get(channel.name)
        failed, permanent = (t.failed, t.permanent) if t is not None else (0, False)
        if not permanent and failed < attempts:
            found.append((channel, failed))
    return found


def reminder_title(title: str, locale: str) -> str:
    """The offer's title, prefixed with "Reminder" in the offer's language."""
    word = REMINDER_WORD.get(locale, REMINDER_WORD["en"])
    title = f"{word}: {title}"
    return title if len(title) <= TITLE_MAX else title[: TITLE_MAX - 1] + "…"


class Deliverer:
    def __init__(
        self,
        cfg: NotifierSettings,
        channels: Sequence[OfferChannel],
        link_secret: bytes,
    ) -> None:
        self.cfg = cfg
        self.channels = channels
        self.quiet = QuietHours(cfg.quiet_hours_start, cfg.quiet_hours_end)
        self.link_secret = link_secret
        self.public_url = str(cfg.public_url)

    # ------------------------------------------------------------ offers

    def deliver_due(self, conn: psycopg.Connection, now: datetime, report: DeliverReport) -> None:
        """Send (or defer, hold, retry later) every offer that is due, a batch at a time."""
        for _ in range(MAX_BATCHES):
            if self._deliver_batch(conn, now, report) < BATCH:
                break

    def _deliver_batch(self, conn: psycopg.Connection, now: datetime, report: DeliverReport) -> int:
        due = store.due_offers(conn, now, BATCH)
        people = store.recipients(conn, (o.device_id for o in due))
        for offer in due:
            recipient = people[offer.device_id]
            allowed = self._allowed_now(conn, offer, recipient, now, report)
            if allowed is None:
                continue
            outgoing = self._outgoing(offer, recipient, "offer")
            outcome = self._try(conn, offer, allowed, outgoing, now=now, report=report)
            self._settle(conn, offer, outcome, now, report)
        return len(due)

    def _allowed_now(
        self,
        conn: psycopg.Connection,
        offer: OfferRow,
        recipient: Recipient,
        now: datetime,
        report: DeliverReport,
    ) -> list[OfferChannel] | None:
        allowed, blocked = policies.allowed_channels(self.channels, recipient)
        if blocked is not None:
            self._hold(
                conn,
                offer,
                reason=blocked.reason,
                until=now + RECHECK_HELD,
                now=now,
                detail=blocked.detail,
            )
            report.held += 1
            return None
        if offer.severity not in self.cfg.quiet_hours_exempt:
            until = self.quiet.until(now, zone(recipient.timezone, self.cfg.default_timezone))
            if until is not None:
                self._hold(
                    conn,
                    offer,
                    reason="quiet_hours",
                    until=until,
                    now=now,
                    detail={"until": until.isoformat()},
                )
                report.deferred += 1
                return None
        return allowed

    def _hold(
        self,
        conn: psycopg.Connection,
        offer: OfferRow,
        *,
        reason: str,
        until: datetime,
        now: datetime,
        detail: dict | None,
    ) -> None:
        """Keep the offer (not dropped) and look again at `until`; record the reason once
        per hold (every quiet-hours deferral is one)."""
        with conn.transaction():
            store.hold(conn, offer.offer_id, reason=reason, until=until, now=now)
            if offer.held_reason != reason or reason == "quiet_hours":
                store.record_suppression(conn, _suppression(offer, reason, now, detail))

    def _settle(
        self,
        conn: psycopg.Connection,
        offer: OfferRow,
        outcome: SendOutcome,
        now: datetime,
        report: DeliverReport,
    ) -> None:
        with conn.transaction():
            if outcome.kind == "sent":
                assert outcome.channel is not None and outcome.result is not None
                channel, delivered = outcome.channel, outcome.result.delivered
                store.mark_sent(
                    conn, offer.offer_id, channel=channel.name, delivered=delivered, now=now
                )
                store.add_interaction(
                    conn,
                    Interaction.of_offer(
                        offer,
                        ts=now,
                        touchpoint=TouchPoint(channel.touchpoint),
                        kind="offer_sent",
                        summary=SENT_SUMMARY.get(channel.name, f"Offer sent ({channel.name})"),
                        detail={"channel": channel.name, "result": outcome.result.detail},
                    ),
                )
                if delivered:
                    store.add_interaction(
                        conn,
                        Interaction.of_offer(
                            offer,
                            ts=now,
                            touchpoint=TouchPoint(channel.touchpoint),
                            kind="offer_delivered",
                            summary="The customer's app took the offer",
                            detail={"channel": channel.name},
                        ),
                    )
                report.sent += 1
                report.by_channel[channel.name] = report.by_channel.get(channel.name, 0) + 1
            elif outcome.kind == "retry":
                assert outcome.channel is not None and outcome.retry_at is not None
                store.retry_later(
                    conn,
                    offer.offer_id,
                    channel=outcome.channel.name,
                    retry_at=outcome.retry_at,
                    now=now,
                )
            else:
                store.mark_undeliverable(conn, offer.offer_id, now)
                store.record_suppression(conn, _suppression(offer, "undeliverable", now, None))
                store.add_interaction(
                    conn,
                    Interaction.of_offer(
                        offer,
                        ts=now,
                        touchpoint=TouchPoint.SYSTEM,
                        kind="offer_undeliverable",
                        summary="Every allowed channel failed",
                    ),
                )
                report.undeliverable += 1

    # ------------------------------------------------------------ reminders

    def remind(self, conn: psycopg.Connection, now: datetime, report: DeliverReport) -> None:
        """One reminder for a critical offer left unanswered after `reminder_after_h`."""
        cutoff = now - timedelta(hours=self.cfg.reminder_after_h)
        due = store.due_reminders(conn, cutoff, REMINDED_SEVERITY, BATCH)
        people = store.recipients(conn, (o.device_id for o in due))
        for offer in due:
            recipient = people[offer.device_id]
            allowed, blocked = policies.allowed_channels(self.channels, recipient)
            if blocked is not None:
                continue
            tz = zone(recipient.timezone, self.cfg.default_timezone)
            if offer.severity not in self.cfg.quiet_hours_exempt and self.quiet.until(now, tz):
                continue
            retry_at = store.reminder_retry_at(conn, offer.offer_id)
            if retry_at is not None and retry_at > now:
                continue
            allowed.sort(key=lambda c: c.name != offer.channel)  # the offer's own first
            outgoing = self._outgoing(offer, recipient, "reminder")
            outcome = self._try(conn, offer, allowed, outgoing, now=now, report=report)
            if outcome.kind == "retry":
                continue
            with conn.transaction():
                store.mark_reminded(conn, offer.offer_id, now)
                sent = outcome.kind == "sent"
                assert outcome.channel is not None or not sent
                store.add_interaction(
                    conn,
                    Interaction.of_offer(
                        offer,
                        ts=now,
                        touchpoint=TouchPoint(outcome.channel.touchpoint)
                        if outcome.channel
                        else TouchPoint.SYSTEM,
                        kind="offer_reminded" if sent else "offer_reminder_failed",
                        summary="Reminder sent" if sent else "Reminder could not be sent",
                        detail={"channel": outcome.channel.name if outcome.channel else None},
                    ),
                )
            report.reminders += int(sent)

    # ------------------------------------------------------------ channels

    def _outgoing(self, offer: OfferRow, recipient: Recipient, purpose: Purpose) -> Outgoing:
        title = offer.title
        if purpose == "reminder":
            title = reminder_title(title, offer.locale)
        offer_id = str(offer.offer_id)
        return Outgoing(
            offer_id=offer_id,
            purpose=purpose,
            recipient=recipient,
            fault_kind=offer.fault_kind,
            kind=offer.kind,
            severity=offer.severity,
            locale=offer.locale,
            title=title,
            body=offer.body,
            created_at=offer.created_at,
            expires_at=offer.expires_at,
            links=answer_links(self.public_url, self.link_secret, offer_id),
        )

    def backoff(self, failures: int) -> timedelta:
        return backoff(failures, base_s=self.cfg.retry_base_s, max_s=self.cfg.retry_max_s)

    def _try(
        self,
        conn: psycopg.Connection,
        offer: OfferRow,
        allowed: Sequence[OfferChannel],
        outgoing: Outgoing,
        *,
        now: datetime,
        report: DeliverReport,
    ) -> SendOutcome:
        """Send on the first allowed channel with tries left; fall back in this pass when
        a channel fails for good or has used its last try."""
        tries = store.tries(conn, offer.offer_id, outgoing.purpose)
        for channel, failed in usable(allowed, tries, self.cfg.retry_attempts):
            started = time.monotonic()
            try:
                result = channel.send(outgoing)
            except Exception as exc:  # a channel bug must not stop the notifier
                log.exception("channel %s failed on offer %s", channel.name, outgoing.offer_id)
                result = SendResult(False, f"{type(exc).__name__}: {exc}")
            duration_ms = (time.monotonic() - started) * 1000
            failures = failed + (0 if result.ok else 1)
            retry_at = None
            if not result.ok and not result.permanent and failures < self.cfg.retry_attempts:
                retry_at = now + self.backoff(failures)
            with conn.transaction():
                store.record_attempt(
                    conn,
                    Attempt(
                        offer_id=offer.offer_id,
                        purpose=outgoing.purpose,
                        channel=channel.name,
                        attempt=failed + 1,
                        at=now,
                        ok=result.ok,
                        permanent=result.permanent,
                        duration_ms=duration_ms,
                        detail=result.detail[:1000],
                        retry_at=retry_at,
                    ),
                )
            if result.ok:
                return SendOutcome("sent", channel, result)
            report.failed_attempts += 1
            report.failed_by_channel[channel.name] = (
                report.failed_by_channel.get(channel.name, 0) + 1
            )
            log.info(
                "%s of offer %s via %s failed (%s)%s",
                outgoing.purpose,
                outgoing.offer_id,
                channel.name,
                result.detail,
                f"; retry at {retry_at:%Y-%m-%d %H:%M:%S}" if retry_at else "; next channel",
            )
            if retry_at is not None:
                return SendOutcome("retry", channel, result, retry_at)
        return SendOutcome("exhausted")


def _suppression(offer: OfferRow, reason: str, now: datetime, detail: dict | None) -> Suppression:
    return Suppression(
        ts=now,
        reason=reason,
        device_id=offer.device_id,
        customer_id=offer.customer_id,
        finding_id=offer.finding_id,
        offer_id=offer.offer_id,
        fault_kind=offer.fault_kind,
        offer_kind=offer.kind,
        severity=offer.severity,
        detail=detail,
    )
