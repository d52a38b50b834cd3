"""When the agent collects and uploads: pure bookkeeping over a monotonic clock passed in.

Collectors stay on their own grids (the last due time plus the interval), so those with
commensurate intervals fire together; one due within `COLLECT_SLACK_S` joins the current
sample rather than making its own a moment later. Fresh gauge samples go at every upload
tick; the backlog after an outage drains at a bounded rate (a token bucket).
"""

from __future__ import annotations

from collections.abc import Mapping

from devicecare.contracts import CollectorConfig, CollectorName, DeviceConfig

COLLECT_SLACK_S = 0.05
MAX_POLL_S = 1.0


def effective_intervals(
    local: Mapping[CollectorName, CollectorConfig], remote: DeviceConfig | None, now_ms: int
) -> dict[CollectorName, CollectorConfig]:
    """Local settings, overridden by the remote config, with high resolution applied (to
    the collectors it names, or to all)."""
    effective = dict(local)
    if remote is not None:
        effective |= remote.collectors
        high = remote.high_res
        if high is not None and now_ms < high.until:
            named = set(high.collectors) if high.collectors is not None else set(effective)
            effective = {
                name: CollectorConfig(cfg.enabled, min(cfg.interval_s, high.interval_s))
                if name in named
                else cfg
                for name, cfg in effective.items()
            }
    return effective


class Schedule:
    def __init__(self, drain_batches_per_s: float) -> None:
        self.drain_rate = drain_batches_per_s
        self.due: dict[CollectorName, float] = {}
        self.next_upload = 0.0
        self.tokens = 1.0
        self.refilled: float | None = None

    def collectors_due(
        self, intervals: Mapping[CollectorName, CollectorConfig], mono: float
    ) -> list[CollectorName]:
        """The enabled collectors due now (or nearly), each moved on to its next due time."""
        due_now = []
        for name, cfg in intervals.items():
            if not cfg.enabled:
                self.due.pop(name, None)
                continue
            due = self.due.get(name, mono)
            if due > mono + COLLECT_SLACK_S:
                self.due[name] = min(due, mono + cfg.interval_s)
                continue
            following = due + cfg.interval_s
            self.due[name] = following if following > mono else mono + cfg.interval_s
            due_now.append(name)
        return due_now

    def upload_due(self, mono: float) -> bool:
        """Time to send the freshest samples (then say `uploaded`)."""
        return mono >= self.next_upload

    def uploaded(self, mono: float, interval_s: float) -> None:
        """The upload tick at `mono` is done; the next one is an interval later."""
        self.next_upload = mono + interval_s

    def drain_token(self, mono: float) -> bool:
        """Take one backlog batch's token, if the drain rate has one available."""
        if self.refilled is not None:
            gained = (mono - self.refilled) * self.drain_rate
            self.tokens = min(max(1.0, self.drain_rate), self.tokens + gained)
        self.refilled = mono
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def restart(self) -> None:
        """A new config: every collector is due at once, and so is the upload."""
        self.due.clear()
        self.next_upload = 0.0

    def timeout(self, mono: float) -> float:
        """How long the loop may wait for the network before something is due.

        Only times still ahead count: one already past is stale (an upload tick while
        offline, collectors while telemetry consent is off), and waiting zero seconds for
        it would spin the loop at full CPU until the next connection."""
        ahead = [t for t in (*self.due.values(), self.next_upload) if t > mono]
        return min([t - mono for t in ahead] + [MAX_POLL_S])
