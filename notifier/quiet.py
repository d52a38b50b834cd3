"""Quiet hours in the customer's own time zone: is it quiet now, and until when."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

log = logging.getLogger(__name__)


@cache
def zone(name: str | None, default: str = "UTC") -> ZoneInfo:
    """The named time zone; the default for a missing or unknown name (logged once)."""
    for candidate in (name, default):
        if not candidate:
            continue
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("unknown time zone %r; using %s", candidate, default)
    return ZoneInfo("UTC")


@dataclass(frozen=True)
class QuietHours:
    """A daily window in local time, e.g. 22:00-08:00; start == end means none."""

    start: time
    end: time

    def until(self, now: datetime, tz: ZoneInfo) -> datetime | None:
        """The end of the quiet period `now` falls in (as UTC), or None when it is not quiet."""
        if self.start == self.end:
            return None
        local = now.astimezone(tz)
        at = local.time().replace(tzinfo=None)
        overnight = self.start > self.end
        in_window = self.start <= at < self.end
        if not (at >= self.start or at < self.end if overnight else in_window):
            return None
        day = local.date()
        if overnight and at >= self.start:
            day += timedelta(days=1)
        end = datetime.combine(day, self.end, tzinfo=tz)
        return end.astimezone(UTC)
