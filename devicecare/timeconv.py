"""One place that converts between the service's three time conventions.

The wire carries integer milliseconds since the epoch (agent, ingest, MQTT payloads);
the detectors compute in float seconds of data time (river's and the rules' arithmetic);
the database and the notifier hold timezone-aware UTC datetimes (`timestamptz`). Each
layer keeps its own convention and converts at its edge through these functions, so no
module writes its own `at()` in a unit the reader has to guess.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import overload

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    """Wire milliseconds as a UTC datetime (exact: no float on the way)."""
    return EPOCH + timedelta(milliseconds=ms)


def to_ms(when: datetime) -> int:
    """A timezone-aware datetime as wire milliseconds (sub-millisecond part dropped)."""
    return (when - EPOCH) // _MS


@overload
def from_seconds(seconds: float) -> datetime: ...
@overload
def from_seconds(seconds: None) -> None: ...
def from_seconds(seconds: float | None) -> datetime | None:
    """Data-time seconds as a UTC datetime; None (not known) stays None."""
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)
