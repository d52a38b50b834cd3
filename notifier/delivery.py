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
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import psycopg
from psycopg.rows import dict_row

from devicecare.config import NotifierSettings
from notifier import lifecycle, policies, recipients
from notifier.channels.base import OfferChannel, Outgoing, Purpose, Recipient, SendResult
from notifier.quiet import QuietHours, zone
from notifier.rules import TITLE_MAX
from notifier.signing import answer_links

log = logging.getLogger(__name__)

BATCH = 500
MAX_BATCHES = 100
RECHECK_HELD = timedelta(hours=1)
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


@dataclass(frozen=True)
class Outcome:
    kind: Literal["sent", "retry", "exhausted"]
    channel: OfferChannel | None = None
    result: SendResult | None = None
    retry_at: datetime | None = None


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
        with conn.cursor(row_factory=dict_row) as cur:
            due = cur.execute(
                "SELECT * FROM offers WHERE status = 'created' AND next_attempt_at <= %s"
                " ORDER BY next_attempt_at, created_at, finding_id, offer_id LIMIT %s",
                (now, BATCH),
            ).fetchall()
        people = recipients.load(conn, (o["device_id"] for o in due))
        for offer in due:
            recipient = people[offer["device_id"]]
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
        offer: dict,
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
        if offer["severity"] not in self.cfg.quiet_hours_exempt:
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
        offer: dict,
        *,
        reason: str,
        until: datetime,
        now: datetime,
        detail: dict | None,
    ) -> None:
        """Keep the offer (not dropped) and look again at `until`; record the reason once
        per hold (every quiet-hours deferral is one)."""
        with conn.transaction():
            conn.execute(
                "UPDATE offers SET next_attempt_at = %s, held_reason = %s, updated_at = %s"
                " WHERE offer_id = %s",
                (until, reason, now, offer["offer_id"]),
            )
            if offer["held_reason"] != reason or reason == "quiet_hours":
                policies.record_suppression(
                    conn,
                    ts=now,
                    reason=reason,
                    device_id=offer["device_id"],
                    customer_id=offer["customer_id"],
                    finding_id=offer["finding_id"],
                    offer_id=offer["offer_id"],
                    fault_kind=offer["fault_kind"],
                    offer_kind=offer["kind"],
                    severity=offer["severity"],
                    detail=detail,
                )

    def _settle(
        self,
        conn: psycopg.Connection,
        offer: dict,
        outcome: Outcome,
        now: datetime,
        report: DeliverReport,
    ) -> None:
        with conn.transaction():
            if outcome.kind == "sent":
                assert outcome.channel is not None and outcome.result is not None
                name = outcome.channel.name
                delivered = outcome.result.delivered
                conn.execute(
                    "UPDATE offers SET status = %s, channel = %s, sent_at = %s,"
                    " delivered_at = CASE WHEN %s THEN %s END, next_attempt_at = NULL,"
                    " held_reason = NULL, updated_at = %s WHERE offer_id = %s",
                    (
                        "delivered" if delivered else "sent",
                        name,
                        now,
                        delivered,
                        now,
                        now,
                        offer["offer_id"],
                    ),
                )
                offer = offer | {"channel": name}
                lifecycle.offer_interaction(
                    conn,
                    offer,
                    ts=now,
                    touchpoint=outcome.channel.touchpoint,
                    kind="offer_sent",
                    summary=SENT_SUMMARY.get(name, f"Offer sent ({name})"),
                    detail={"channel": name, "result": outcome.result.detail},
                )
                if delivered:
                    lifecycle.offer_interaction(
                        conn,
                        offer,
                        ts=now,
                        touchpoint=outcome.channel.touchpoint,
                        kind="offer_delivered",
                        summary="The customer's app took the offer",
                        detail={"channel": name},
                    )
                report.sent += 1
                report.by_channel[name] = report.by_channel.get(name, 0) + 1
            elif outcome.kind == "retry":
                assert outcome.channel is not None
                conn.execute(
                    "UPDATE offers SET next_attempt_at = %s, held_reason = 'retry',"
                    " channel = %s, updated_at = %s WHERE offer_id = %s",
                    (outcome.retry_at, outcome.channel.name, now, offer["offer_id"]),
                )
            else:
                conn.execute(
                    "UPDATE offers SET next_attempt_at = NULL, held_reason = 'undeliverable',"
                    " updated_at = %s WHERE offer_id = %s",
                    (now, offer["offer_id"]),
                )
                policies.record_suppression(
                    conn,
                    ts=now,
                    reason="undeliverable",
                    device_id=offer["device_id"],
                    customer_id=offer["customer_id"],
                    finding_id=offer["finding_id"],
                    offer_id=offer["offer_id"],
                    fault_kind=offer["fault_kind"],
                    offer_kind=offer["kind"],
                    severity=offer["severity"],
                )
                lifecycle.offer_interaction(
                    conn,
                    offer,
                    ts=now,
                    touchpoint="system",
                    kind="offer_undeliverable",
                    summary="Every allowed channel failed",
                )
                report.undeliverable += 1

    # ------------------------------------------------------------ reminders

    def remind(self, conn: psycopg.Connection, now: datetime, report: DeliverReport) -> None:
        """One reminder for a critical offer left unanswered after `reminder_after_h`."""
        cutoff = now - timedelta(hours=self.cfg.reminder_after_h)
        with conn.cursor(row_factory=dict_row) as cur:
            due = cur.execute(
                "SELECT * FROM offers WHERE status IN ('sent', 'delivered', 'viewed')"
                " AND severity = 'critical' AND reminded_at IS NULL AND sent_at <= %s"
                " ORDER BY sent_at LIMIT %s",
                (cutoff, BATCH),
            ).fetchall()
        people = recipients.load(conn, (o["device_id"] for o in due))
        for offer in due:
            recipient = people[offer["device_id"]]
            allowed, blocked = policies.allowed_channels(self.channels, recipient)
            if blocked is not None:
                continue
            tz = zone(recipient.timezone, self.cfg.default_timezone)
            if offer["severity"] not in self.cfg.quiet_hours_exempt and self.quiet.until(now, tz):
                continue
            retry_at = conn.execute(
                "SELECT retry_at FROM offer_attempts WHERE offer_id = %s AND purpose = 'reminder'"
                " ORDER BY attempt_id DESC LIMIT 1",
                (offer["offer_id"],),
            ).fetchone()
            if retry_at is not None and retry_at[0] is not None and retry_at[0] > now:
                continue
            allowed.sort(key=lambda c: c.name != offer["channel"])  # the offer's own first
            outgoing = self._outgoing(offer, recipient, "reminder")
            outcome = self._try(conn, offer, allowed, outgoing, now=now, report=report)
            if outcome.kind == "retry":
                continue
            with conn.transaction():
                conn.execute(
                    "UPDATE offers SET reminded_at = %s, updated_at = %s WHERE offer_id = %s",
                    (now, now, offer["offer_id"]),
                )
                sent = outcome.kind == "sent"
                assert outcome.channel is not None or not sent
                lifecycle.offer_interaction(
                    conn,
                    offer,
                    ts=now,
                    touchpoint=outcome.channel.touchpoint if outcome.channel else "system",
                    kind="offer_reminded" if sent else "offer_reminder_failed",
                    summary="Reminder sent" if sent else "Reminder could not be sent",
                    detail={"channel": outcome.channel.name if outcome.channel else None},
                )
            report.reminders += int(sent)

    # ------------------------------------------------------------ channels

    def _outgoing(self, offer: dict, recipient: Recipient, purpose: Purpose) -> Outgoing:
        title = offer["title"]
        if purpose == "reminder":
            word = REMINDER_WORD.get(offer["locale"], REMINDER_WORD["en"])
            title = f"{word}: {title}"
            if len(title) > TITLE_MAX:
                title = title[: TITLE_MAX - 1] + "…"
        offer_id = str(offer["offer_id"])
        return Outgoing(
            offer_id=offer_id,
            purpose=purpose,
            recipient=recipient,
            fault_kind=offer["fault_kind"],
            kind=offer["kind"],
            severity=offer["severity"],
            locale=offer["locale"],
            title=title,
            body=offer["body"],
            created_at=offer["created_at"],
            expires_at=offer["expires_at"],
            links=answer_links(self.public_url, self.link_secret, offer_id),
        )

    def backoff(self, failures: int) -> timedelta:
        seconds = self.cfg.retry_base_s * 2 ** (failures - 1)
        return timedelta(seconds=min(seconds, self.cfg.retry_max_s))

    def _try(
        self,
        conn: psycopg.Connection,
        offer: dict,
        allowed: Sequence[OfferChannel],
        outgoing: Outgoing,
        *,
        now: datetime,
        report: DeliverReport,
    ) -> Outcome:
        """Send on the first allowed channel with tries left; fall back in this pass when
        a channel fails for good or has used its last try."""
        stats = {
            channel: (failed, permanent)
            for channel, failed, permanent in conn.execute(
                "SELECT channel, count(*) FILTER (WHERE NOT ok), bool_or(permanent)"
                " FROM offer_attempts WHERE offer_id = %s AND purpose = %s GROUP BY channel",
                (offer["offer_id"], outgoing.purpose),
            ).fetchall()
        }
        for channel in allowed:
            failed, permanent = stats.get(channel.name, (0, False))
            if permanent or failed >= self.cfg.retry_attempts:
                continue
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
                conn.execute(
                    "INSERT INTO offer_attempts (offer_id, purpose, channel, attempt, at, ok,"
                    " permanent, duration_ms, detail, retry_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        offer["offer_id"],
                        outgoing.purpose,
                        channel.name,
                        failed + 1,
                        now,
                        result.ok,
                        result.permanent,
                        duration_ms,
                        result.detail[:1000],
                        retry_at,
                    ),
                )
            if result.ok:
                return Outcome("sent", channel, result)
            report.failed_attempts += 1
            log.info(
                "%s of offer %s via %s failed (%s)%s",
                outgoing.purpose,
                outgoing.offer_id,
                channel.name,
                result.detail,
                f"; retry at {retry_at:%Y-%m-%d %H:%M:%S}" if retry_at else "; next channel",
            )
            if retry_at is not None:
                return Outcome("retry", channel, result, retry_at)
        return Outcome("exhausted")
