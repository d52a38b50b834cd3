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

import psycopg
from psycopg.rows import dict_row

from devicecare.config import NotifierSettings
from notifier import lifecycle, policies, recipients, storm
from notifier.channels.base import OfferChannel, Recipient
from notifier.rules import RANK, SEVERITIES, Finding, Proposal, RuleSet

log = logging.getLogger(__name__)

BATCH = 2000
MAX_BATCHES = 100
RECHECK_CONSENT = timedelta(hours=1)
"""How soon a finding held for lack of consent or of a channel is looked at again."""

# A finding is open at `now` if it is open, or resolved only after `now` (a pass run on
# simulated time, after the detectors have seen the whole run).
_FINDINGS = """
SELECT f.finding_id, f.device_id, f.fault_kind, f.severity, f.confidence, f.reason,
       f.detected_at, f.detector, f.evidence, f.onset_at,
       d.severity AS decided_severity, d.outcome AS decided_outcome, d.reason AS decided_reason
FROM findings f LEFT JOIN notifier_decisions d ON d.finding_id = f.finding_id
WHERE (f.status = 'open' OR f.resolved_at > %(now)s) AND f.detected_at <= %(now)s AND (
    d.finding_id IS NULL
    OR array_position(%(sev)s::text[], f.severity) > array_position(%(sev)s::text[], d.severity)
    OR d.recheck_at <= %(now)s)
ORDER BY f.detected_at, f.finding_id
LIMIT %(limit)s
"""


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
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                _FINDINGS, {"now": now, "sev": list(SEVERITIES), "limit": BATCH}
            ).fetchall()
        if not rows:
            return 0
        people = recipients.load(conn, (r["device_id"] for r in rows))
        survivors: list[Candidate] = []
        pending_per_owner: Counter[str] = Counter()
        for row in rows:
            finding = Finding(
                finding_id=row["finding_id"],
                device_id=row["device_id"],
                fault_kind=row["fault_kind"],
                severity=row["severity"],
                confidence=row["confidence"],
                reason=row["reason"],
                detected_at=row["detected_at"],
                detector=row["detector"],
                evidence=row["evidence"] or {},
                onset_at=row["onset_at"],
            )
            previous = (row["decided_severity"], row["decided_outcome"], row["decided_reason"])
            with conn.transaction():
                candidate = self._screen(
                    conn,
                    finding,
                    previous=previous,
                    recipient=people[finding.device_id],
                    now=now,
                    report=report,
                    pending=pending_per_owner,
                )
            if candidate is not None:
                survivors.append(candidate)
                pending_per_owner[_owner(candidate.recipient)] += 1
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
        finding: Finding,
        *,
        previous: tuple[str | None, str | None, str | None],
        recipient: Recipient,
        now: datetime,
        report: ProposeReport,
        pending: Counter[str],
    ) -> Candidate | None:
        proposal = self.rules.propose(finding)
        if proposal is None:
            decide(conn, finding, now, "no_offer")
            report.no_offer += 1
            return None
        candidate = Candidate(finding, proposal, recipient, previous)
        if self._standing_offer(conn, candidate, now, report):
            return None
        _, blocked = policies.allowed_channels(self.channels, recipient)
        if blocked is not None:
            blocked = policies.Blocked(blocked.reason, now + RECHECK_CONSENT, blocked.detail)
        if blocked is None:
            blocked = policies.cooldown(
                conn,
                device_id=finding.device_id,
                fault_kind=finding.fault_kind,
                finding_id=finding.finding_id,
                severity=finding.severity,
                now=now,
                days=self.cfg.cooldown_days,
            )
        if blocked is None and finding.severity not in self.cfg.cap_exempt:
            used, frees_at = policies.cap_usage(
                conn,
                customer_id=recipient.customer_id,
                device_id=finding.device_id,
                now=now,
                window_days=self.cfg.cap_window_days,
            )
            used += pending[_owner(recipient)]
            if used >= self.cfg.cap_offers:
                recheck = frees_at or now + timedelta(days=self.cfg.cap_window_days)
                blocked = policies.Blocked(
                    "frequency_cap",
                    recheck,
                    {"offers": used, "cap": self.cfg.cap_offers, "days": self.cfg.cap_window_days},
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
        row = conn.execute(
            "SELECT offer_id, severity, status FROM offers WHERE device_id = %s"
            " AND fault_kind = %s AND (status IN ('created', 'sent', 'delivered', 'viewed')"
            " OR (status = 'accepted' AND finding_id = %s))"
            " ORDER BY (status = 'accepted'), created_at DESC LIMIT 1",
            (finding.device_id, finding.fault_kind, finding.finding_id),
        ).fetchone()
        if row is None:
            return False
        offer_id, severity, status = row
        if RANK[finding.severity] > RANK[severity] and status != "accepted":
            lifecycle.close_offers(
                conn,
                now,
                status="expired",
                where="o.offer_id = %(offer_id)s",
                params={"offer_id": offer_id},
                summary="Offer replaced by one for a more severe finding",
            )
            report.superseded += 1
            return False
        decide(conn, finding, now, "offered", offer_id=offer_id)
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
        decide(
            conn, finding, now, "suppressed", reason=blocked.reason, recheck_at=blocked.recheck_at
        )
        same = candidate.previous == (finding.severity, "suppressed", blocked.reason)
        if same:
            return
        report.suppressed[blocked.reason] += 1
        policies.record_suppression(
            conn,
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
        alert_id = storm.open_alert(conn, kind)
        if alert_id is None:
            if storm.released_since(conn, kind, since):
                return False
            fresh = {c.finding.device_id for c in candidates if c.finding.detected_at > since}
            devices = fresh | storm.devices_in_window(conn, kind, since, now)
            fleet = storm.fleet_size(conn)
            tripped = len(devices) >= self.cfg.storm_min_devices and (
                len(devices) >= self.cfg.storm_share * fleet
            )
            if not tripped:
                return False
            alert_id = storm.raise_alert(
                conn,
                offer_kind=kind,
                now=now,
                devices=len(devices),
                fleet=fleet,
                window=window,
                fault_kinds=[c.finding.fault_kind for c in candidates],
            )
            report.alerts += 1
        else:
            storm.add_held(conn, alert_id, len({c.finding.device_id for c in candidates}))
        blocked = policies.Blocked("storm", None, {"alert_id": alert_id})
        for candidate in candidates:
            self._suppress(conn, candidate, blocked, now=now, report=report, alert_id=alert_id)
        return True

    def _create(
        self, conn: psycopg.Connection, candidate: Candidate, now: datetime, report: ProposeReport
    ) -> None:
        finding, proposal, recipient = candidate.finding, candidate.proposal, candidate.recipient
        words = proposal.render(recipient.locale, model=recipient.model, name=recipient.name)
        expires = now + timedelta(hours=self.cfg.expire_after_h)
        with conn.cursor(row_factory=dict_row) as cur:
            offer = cur.execute(
                "INSERT INTO offers (device_id, finding_id, fault_kind, kind, severity, status,"
                " locale, title, body, created_at, updated_at, expires_at, customer_id, rule,"
                " next_attempt_at) VALUES (%s, %s, %s, %s, %s, 'created', %s, %s, %s, %s, %s,"
                " %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING *",
                (
                    finding.device_id,
                    finding.finding_id,
                    finding.fault_kind,
                    proposal.kind.name,
                    finding.severity,
                    words.locale,
                    words.title,
                    words.body,
                    now,
                    now,
                    expires,
                    recipient.customer_id,
                    proposal.rule,
                    now,
                ),
            ).fetchone()
        if offer is None:  # a live offer appeared meanwhile (another notifier)
            return
        decide(conn, finding, now, "offered", offer_id=offer["offer_id"])
        lifecycle.offer_interaction(
            conn,
            offer,
            ts=now,
            touchpoint="system",
            kind="offer_created",
            summary=f"Care offer ({proposal.kind.name}) for the {finding.fault_kind} finding",
            detail={"rule": proposal.rule, "downgraded": proposal.downgraded},
        )
        report.created += 1


def _owner(recipient: Recipient) -> str:
    return recipient.customer_id or f"device:{recipient.device_id}"


def decide(
    conn: psycopg.Connection,
    finding: Finding,
    now: datetime,
    outcome: str,
    *,
    reason: str | None = None,
    offer_id: object = None,
    recheck_at: datetime | None = None,
) -> None:
    conn.execute(
        "INSERT INTO notifier_decisions (finding_id, severity, outcome, reason, offer_id,"
        " decided_at, recheck_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (finding_id) DO UPDATE SET severity = EXCLUDED.severity,"
        " outcome = EXCLUDED.outcome, reason = EXCLUDED.reason, offer_id = EXCLUDED.offer_id,"
        " decided_at = EXCLUDED.decided_at, recheck_at = EXCLUDED.recheck_at",
        (finding.finding_id, finding.severity, outcome, reason, offer_id, now, recheck_at),
    )
