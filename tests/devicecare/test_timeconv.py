"""The one conversion between wire milliseconds, data-time seconds and UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime

from devicecare.timeconv import EPOCH, from_ms, from_seconds, to_ms


def test_wire_milliseconds_round_trip_exactly() -> None:
    for ms in (0, 1, 999, 1_790_000_000_123, 1_790_000_000_999):
        when = from_ms(ms)
        assert when.tzinfo is UTC and to_ms(when) == ms
    assert from_ms(1_790_000_000_123) == datetime(2026, 9, 21, 14, 13, 20, 123_000, tzinfo=UTC)
    assert to_ms(datetime(2026, 9, 21, 14, 13, 20, 123_999, tzinfo=UTC)) == 1_790_000_000_123


def test_data_time_seconds_become_utc_datetimes_and_unknown_stays_unknown() -> None:
    assert from_seconds(0.0) == EPOCH
    assert from_seconds(1_790_000_000.5) == from_ms(1_790_000_000_500)
    assert from_seconds(None) is None
