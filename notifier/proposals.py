"""From open findings to created offers: rules first, then the policies in a fixed order.

For each open finding the notifier has not decided on (or whose severity rose, or whose
recheck time came): the rules propose an offer kind; an existing live offer for the same
device and fault stands (or is superseded when the finding got more severe); then
consent and reachability, the cooldown after a dismissal, the per-customer frequency cap
and, across the whole pass, storm protection. What survives becomes an offer in status
`created`, due for delivery at once. Each finding's decision is kept in
`notifier_decisions`; each suppression is one `offer_suppressions` row (a recheck that
ends in the same suppression at the same severity adds none).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import psycopg

from devicecare.config import NotifierSettings
from devicecare.contracts.vocabulary import SEVERITY_RANK, OfferStatus, TouchPoint
from notifier import lifecycle, policies, store, storm
from notifier.channels.base import OfferChannel, Recipient
from notifier.rules import Finding, Proposal, RuleSet
from notifier.store import DueFinding, Interaction, NewOffer, StandingOffer, Suppression

log = logging.getLogger(__name__)

BATCH = 2000
MAX_BATCHES = 100
RECHECK_CONSENT = timedelta(hours=1)
"""How soon a finding held for lack of consent or of a channel is looked at again."""

Standing = Literal["none", "covered", "superseded"]


def standing(finding: Finding, offer: StandingOffer | None) -> Standing:
    """What an offer that already exists for the finding's fault means for it: nothing
    (`none`), it covers the finding (`covered`), or it is live but less severe and gives
    way to a new one (`superseded`). An accepted offer is never superseded."""
    if offer is None:
        return "none"
    worse = SEVERITY_RANK[finding.severity] > SEVERITY_RANK[offer.severity]
    if worse and offer.status is not OfferStatus.ACCEPTED:
        return "superseded"
    return "covered"


def owner_key(recipient: Recipient) -> str:
    """Whom the frequency cap counts: the customer, or an ownerless device."""
    return recipient.customer_id or f"device:{recipient.device_id}"


@dataclass
class Candidate:
    finding: Finding
    proposal: Proposal
    recipient: Recipient
    previous: tuple[str | None, str | None, str | None]
    """(severity, outcome, reason) of the last decision on this finding."""


@dataclass
class ProposeReport:
    created: int = 0
    superseded: int = 0
    no_offer: int = 0
    suppressed: Counter[str] = field(default_factory=Counter)
    alerts: int = 0


class Proposer:
    def __init__(
        self, cfg: NotifierSettings, rules: RuleSet, channels: Sequence[OfferChannel]
    ) -> None:
        self.cfg = cfg
        self.rules = rules
        self.channels = channels

    def run(self, conn: psycopg.Connection, now: datetime) -> ProposeReport:
        """Decide on every finding that is due, a batch at a time (a decided finding is
        not due again in the same pass)."""
        report = ProposeReport()
        for _ in range(MAX_BATCHES):
            if self._batch(conn, now, report) < BATCH:
                break
        return report

    def _batch(self, conn: psycopg.Connection, now: datetime, report: ProposeReport) -> int:
        rows = store.due_findings(conn, now, BATCH)
        if not rows:
            return 0
        people = store.recipients(conn, (r.device_id for r in rows))
        survivors: list[Candidate] = []
        pending_per_owner: Counter[str] = Counter()
        for row in rows:
            with conn.transaction():
                candidate = self._screen(
                    conn,
                    row,
                    recipient=people[row.device_id],
                    now=now,
                    report=report,
                    pending=pending_per_owner,
                )
            if candidate is not None:
                survivors.append(candidate)
                pending_per_owner[owner_key(candidate.recipient)] += 1
        by_kind: dict[str, list[Candidate]] = {}
        for candidate in survivors:
            by_kind.setdefault(candidate.proposal.kind.name, []).append(candidate)
        for kind, candidates in by_kind.items():
            with conn.transaction():
                held = self._storm(conn, kind, candidates, now, report)
                if not held:
                    for candidate in candidates:
                        self._create(conn, candidate, now, report)
        return len(rows)

    # ------------------------------------------------------------ per finding

    def _screen(
        self,
        conn: psycopg.Connection,
        row: DueFinding,
        *,
        recipient: Recipient,
        now: datetime,
        report: ProposeReport,
        pending: Counter[str],
    ) -> Candidate | None:
        finding = row.finding
        proposal = self.rules.propose(finding)
        if proposal is None:
            store.decide(conn, finding, now, "no_offer")
            report.no_offer += 1
            return None
        candidate = Candidate(finding, proposal, recipient, row.previous)
        if self._standing_offer(conn, candidate, now, report):
            return None
        _, blocked = policies.allowed_channels(self.channels, recipient)
        if blocked is not None:
            blocked = policies.Blocked(blocked.reason, now + RECHECK_CONSENT, blocked.detail)
        if blocked is None:
            blocked = policies.cooldown(
                store.declined_or_expired(conn, finding.device_id, finding.fault_kind, now),
                finding_id=finding.finding_id,
                severity=finding.severity,
                now=now,
                days=self.cfg.cooldown_days,
            )
        if blocked is None and finding.severity not in self.cfg.cap_exempt:
            made, oldest = store.offers_made(
                conn,
                customer_id=recipient.customer_id,
                device_id=finding.device_id,
                since=now - timedelta(days=self.cfg.cap_window_days),
                now=now,
            )
            blocked = policies.frequency_cap(
                made,
                oldest,
                pending=pending[owner_key(recipient)],
                now=now,
                cap=self.cfg.cap_offers,
                window_days=self.cfg.cap_window_days,
            )
        if blocked is not None:
            self._suppress(conn, candidate, blocked, now=now, report=report)
            return None
        return candidate

    def _standing_offer(
        self, conn: psycopg.Connection, candidate: Candidate, now: datetime, report: ProposeReport
    ) -> bool:
        """True when an offer already covers this finding (a live one for the device and
        fault, or an accepted one for the finding); a less severe live one is superseded."""
        finding = candidate.finding
        offer = store.standing_offer(conn, finding)
        verdict = standing(finding, offer)
        if verdict == "none":
            return False
        assert offer is not None
        if verdict == "superseded":
            lifecycle.supersede(conn, offer.offer_id, now)
            report.superseded += 1
            return False
        store.decide(conn, finding, now, "offered", offer_id=offer.offer_id)
        return True

    def _suppress(
        self,
        conn: psycopg.Connection,
        candidate: Candidate,
        blocked: policies.Blocked,
        *,
        now: datetime,
        report: ProposeReport,
        alert_id: int | None = None,
    ) -> None:
        finding = candidate.finding
        store.decide(
            conn, finding, now, "suppressed", reason=blocked.reason, recheck_at=blocked.recheck_at
        )
        same = candidate.previous == (finding.severity, "suppressed", blocked.reason)
        if same:
            return
        report.suppressed[blocked.reason] += 1
        store.record_suppression(
            conn,
            Suppression(
                ts=now,
                reason=blocked.reason,
                device_id=finding.device_id,
                customer_id=candidate.recipient.customer_id,
                finding_id=finding.finding_id,
                fault_kind=finding.fault_kind,
                offer_kind=candidate.proposal.kind.name,
                severity=finding.severity,
                alert_id=alert_id,
                detail=blocked.detail,
            ),
        )

    # ------------------------------------------------------------ across the fleet

    def _storm(
        self,
        conn: psycopg.Connection,
        kind: str,
        candidates: list[Candidate],
        now: datetime,
        report: ProposeReport,
    ) -> bool:
        """Hold every candidate of this offer kind when it is (or now becomes) a storm."""
        window = timedelta(minutes=self.cfg.storm_window_min)
        since = now - window
        alert_id = store.open_alert(conn, kind)
        if alert_id is None:
            if store.released_since(conn, kind, since):
                return False
            fresh = {c.finding.device_id for c in candidates if c.finding.detected_at > since}
            devices = fresh | store.storm_devices(conn, kind, since, now)
            fleet = store.fleet_size(conn)
            if not storm.tripped(
                len(devices),
                fleet,
                min_devices=self.cfg.storm_min_devices,
                share=self.cfg.storm_share,
            ):
                return False
            summary = storm.alert_summary(kind, len(devices), fleet, window)
            log.warning("%s", summary)
            fault_kinds = sorted({c.finding.fault_kind for c in candidates})
            alert_id = store.raise_alert(
                conn,
                offer_kind=kind,
                now=now,
                devices=len(devices),
                fleet=fleet,
                summary=summary,
                detail={"fault_kinds": fault_kinds, "window_s": window.total_seconds()},
            )
            report.alerts += 1
        else:
            store.add_held(conn, alert_id, len({c.finding.device_id for c in candidates}))
        blocked = policies.Blocked("storm", None, {"alert_id": alert_id})
        for candidate in candidates:
            self._suppress(conn, candidate, blocked, now=now, report=report, alert_id=alert_id)
        return True

    def _create(
        self, conn: psycopg.Connection, candidate: Candidate, now: datetime, report: ProposeReport
    ) -> None:
        finding, proposal, recipient = candidate.finding, candidate.proposal, candidate.recipient
        words = proposal.render(recipient.locale, model=recipient.model, name=recipient.name)
        offer = store.insert_offer(
            conn,
            NewOffer(
                device_id=finding.device_id,
                finding_id=finding.finding_id,
                fault_kind=finding.fault_kind,
                kind=proposal.kind.name,
                severity=finding.severity,
                locale=words.locale,
                title=words.title,
                body=words.body,
                created_at=now,
                expires_at=now + timedelta(hours=self.cfg.expire_after_h),
                customer_id=recipient.customer_id,
                rule=proposal.rule,
            ),
        )
        if offer is None:  # a live offer appeared meanwhile (another notifier)
            return
        store.decide(conn, finding, now, "offered", offer_id=offer.offer_id)
        store.add_interaction(
            conn,
            Interaction.of_offer(
                offer,
                ts=now,
                touchpoint=TouchPoint.SYSTEM,
                kind="offer_created",
                summary=f"Care offer ({proposal.kind.name}) for the {finding.fault_kind} finding",
                detail={"rule": proposal.rule, "downgraded": proposal.downgraded},
            ),
        )
        report.created += 1
