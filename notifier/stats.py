"""What the notifier did, counted from the database (for the demo and dashboards)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

import psycopg

from notifier import store


@dataclass(frozen=True)
class NotifierCounts:
    offers_created: int
    offers_sent: int
    """Offers that went out on some channel (whatever their status now)."""
    offers_by_status: dict[str, int]
    offers_by_kind: dict[str, int]
    answers: dict[str, int]
    """accept / dismiss / wrong, from the device or a web link."""
    suppressed: dict[str, int]
    """Suppression events by reason (a finding or offer can be held more than once)."""
    suppressed_findings: dict[str, int]
    """Distinct findings per suppression reason."""
    false_alarms: int
    reminders: int
    fleet_alerts: int
    attempts: dict[str, dict[str, int]]
    """Per channel: ok and failed delivery attempts."""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def counts(
    conn: psycopg.Connection, *, since: datetime | None = None, until: datetime | None = None
) -> NotifierCounts:
    """Counts over offers created (and suppressions, attempts made) in [since, until)."""
    raw = store.counts(conn, since=since, until=until)
    return NotifierCounts(
        offers_created=sum(raw.by_status.values()),
        offers_sent=raw.sent,
        offers_by_status=raw.by_status,
        offers_by_kind=raw.by_kind,
        answers=raw.answers,
        suppressed=raw.suppressed,
        suppressed_findings=raw.suppressed_findings,
        false_alarms=raw.false_alarms,
        reminders=raw.reminders,
        fleet_alerts=raw.fleet_alerts,
        attempts={c: {"ok": ok, "failed": failed} for c, (ok, failed) in raw.attempts.items()},
    )
