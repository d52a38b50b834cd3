"""What the notifier did, counted from the database (for the demo and dashboards)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

import psycopg


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


def _window(column: str, since: datetime | None, until: datetime | None) -> tuple[str, list]:
    clauses, params = ["true"], []
    if since is not None:
        clauses.append(f"{column} >= %s")
        params.append(since)
    if until is not None:
        clauses.append(f"{column} < %s")
        params.append(until)
    return " AND ".join(clauses), params


def counts(
    conn: psycopg.Connection, *, since: datetime | None = None, until: datetime | None = None
) -> NotifierCounts:
    """Counts over offers created (and suppressions, attempts made) in [since, until)."""
    offers, p_offers = _window("created_at", since, until)
    supp, p_supp = _window("ts", since, until)
    att, p_att = _window("at", since, until)
    alerts, p_alerts = _window("raised_at", since, until)

    def pairs(sql: str, params: list) -> dict[str, int]:
        return {str(k): int(v) for k, v in conn.execute(sql, params).fetchall()}  # type: ignore[arg-type]

    by_status = pairs(f"SELECT status, count(*) FROM offers WHERE {offers} GROUP BY 1", p_offers)  # noqa: S608
    by_kind = pairs(f"SELECT kind, count(*) FROM offers WHERE {offers} GROUP BY 1", p_offers)  # noqa: S608
    answers = pairs(
        f"SELECT answer, count(*) FROM offers WHERE {offers} AND answer IS NOT NULL GROUP BY 1",  # noqa: S608
        p_offers,
    )
    sent, reminders = conn.execute(
        f"SELECT count(*) FILTER (WHERE sent_at IS NOT NULL),"  # noqa: S608
        f" count(*) FILTER (WHERE reminded_at IS NOT NULL) FROM offers WHERE {offers}",
        p_offers,
    ).fetchone()  # type: ignore[misc]
    suppressed = pairs(
        f"SELECT reason, count(*) FROM offer_suppressions WHERE {supp} GROUP BY 1",  # noqa: S608
        p_supp,
    )
    suppressed_findings = pairs(
        f"SELECT reason, count(DISTINCT coalesce(finding_id::text, offer_id::text))"  # noqa: S608
        f" FROM offer_suppressions WHERE {supp} GROUP BY 1",
        p_supp,
    )
    false_alarms = conn.execute(
        f"SELECT count(*) FROM finding_feedback WHERE verdict = 'false_alarm' AND {supp}",  # noqa: S608
        p_supp,
    ).fetchone()[0]  # type: ignore[index]
    fleet_alerts = conn.execute(
        f"SELECT count(*) FROM fleet_alerts WHERE {alerts}",  # noqa: S608
        p_alerts,
    ).fetchone()[0]  # type: ignore[index]
    attempts: dict[str, dict[str, int]] = {}
    for channel, ok, failed in conn.execute(
        f"SELECT channel, count(*) FILTER (WHERE ok), count(*) FILTER (WHERE NOT ok)"  # noqa: S608
        f" FROM offer_attempts WHERE {att} GROUP BY 1",
        p_att,
    ).fetchall():
        attempts[channel] = {"ok": ok, "failed": failed}
    return NotifierCounts(
        offers_created=sum(by_status.values()),
        offers_sent=sent,
        offers_by_status=by_status,
        offers_by_kind=by_kind,
        answers=answers,
        suppressed=suppressed,
        suppressed_findings=suppressed_findings,
        false_alarms=false_alarms,
        reminders=reminders,
        fleet_alerts=fleet_alerts,
        attempts=attempts,
    )
