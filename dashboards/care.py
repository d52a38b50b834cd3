"""Care outcomes: what the detectors found, what the notifier offered and how owners answered.

The fault-kind variable lists the shared vocabulary (`FaultKind`), so a kind with no
findings yet can still be chosen.
"""

from __future__ import annotations

from dashboards.builder import Dashboard, Variable, barchart, stat, table, timeseries
from devicecare.contracts.vocabulary import FaultKind

KIND = "fault_kind IN ($fault_kind)"


def fault_kind_variable() -> Variable:
    values = ", ".join(f"('{kind.value}')" for kind in FaultKind)
    return Variable(
        "fault_kind", "Fault kind", f"SELECT k FROM (VALUES {values}) AS v(k) ORDER BY 1"
    )


def build() -> Dashboard:
    return Dashboard(
        uid="devicecare-care",
        title="DeviceCare / Care outcomes",
        description="Findings, offers, answers, suppressions, fleet alerts and lead time.",
        variables=(fault_kind_variable(),),
        time_from="now-30d",
        panels=(
            timeseries(
                "Findings opened per day",
                f"""
SELECT $__timeGroupAlias(detected_at, '1d'), fault_kind AS metric, count(*) AS findings
FROM findings
WHERE $__timeFilter(detected_at) AND {KIND}
GROUP BY 1, 2
ORDER BY 1, 2
""",
                stacked=True,
            ),
            barchart(
                "Findings by kind: opened, resolved, false alarms",
                f"""
SELECT fault_kind,
       count(*) AS opened,
       count(*) FILTER (WHERE status = 'resolved') AS resolved,
       count(*) FILTER (WHERE status = 'false_alarm') AS false_alarms
FROM findings
WHERE $__timeFilter(detected_at) AND {KIND}
GROUP BY 1
ORDER BY 1
""",
            ),
            barchart(
                "Offers by kind: sent, accepted, dismissed, wrong",
                f"""
SELECT fault_kind,
       count(*) FILTER (WHERE sent_at IS NOT NULL) AS sent,
       count(*) FILTER (WHERE answer = 'accept') AS accepted,
       count(*) FILTER (WHERE answer = 'dismiss') AS dismissed,
       count(*) FILTER (WHERE answer = 'wrong') AS wrong
FROM offers
WHERE $__timeFilter(created_at) AND {KIND}
GROUP BY 1
ORDER BY 1
""",
            ),
            timeseries(
                "Offer answers per day",
                f"""
SELECT $__timeGroupAlias(answered_at, '1d'), answer AS metric, count(*) AS offers
FROM offers
WHERE $__timeFilter(answered_at) AND answer IS NOT NULL AND {KIND}
GROUP BY 1, 2
ORDER BY 1, 2
""",
                stacked=True,
            ),
            barchart(
                "Suppressions by reason",
                f"""
SELECT reason, count(*) AS suppressions
FROM offer_suppressions
WHERE $__timeFilter(ts) AND {KIND}
GROUP BY 1
ORDER BY 2 DESC, 1
""",
            ),
            stat(
                "Lead time: offer sent before the owner called (days)",
                f"""
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY lead) AS median_days,
       min(lead) AS shortest_days,
       count(*) AS known
FROM (SELECT extract(epoch FROM min(i.ts) - o.sent_at) / 86400 AS lead
      FROM offers o
      JOIN interactions i ON i.finding_id = o.finding_id
                         AND i.touchpoint IN ('hotline', 'store') AND i.ts >= o.sent_at
      WHERE $__timeFilter(o.sent_at) AND o.{KIND}
      GROUP BY o.offer_id, o.sent_at) l
""",
                description=(
                    "Known where the owner later called the hotline or visited a store about"
                    " the same finding: the days the offer came before that contact."
                ),
            ),
            table(
                "Fleet alerts",
                """
SELECT raised_at, kind, offer_kind, status, devices, fleet, closed_at, summary
FROM fleet_alerts
WHERE $__timeFilter(raised_at)
ORDER BY raised_at DESC
LIMIT 50
""",
                width=24,
                height=6,
            ),
        ),
    )
