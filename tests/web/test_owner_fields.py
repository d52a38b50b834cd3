"""The owner's answer form: which fields an accepted service offer needs, and the slots."""

from __future__ import annotations

from datetime import UTC, datetime

from api.web.owner import CALLBACK_KIND, COMMENT_MAX, _refusal, _slots

SLOTS = ["2026-01-06 10:00"]


def test_a_call_back_needs_a_phone_number_and_a_store_visit_an_offered_slot() -> None:
    def refusal(kind: str | None, **fields: str) -> str | None:
        values = {"slot": "", "phone": "", **fields}
        return _refusal(kind, comment=None, slots=SLOTS, **values)

    assert refusal(CALLBACK_KIND, phone="+49 30 123-4567") is None
    assert refusal(CALLBACK_KIND, phone="call me") == "phone"
    assert refusal(CALLBACK_KIND, phone="1" * 31) == "phone"
    assert refusal("battery_check", slot=SLOTS[0]) is None
    assert refusal("battery_check", slot="2026-01-06 03:00") == "slot"
    assert refusal("self_help") is None and refusal(None) is None
    too_long = _refusal(None, slot="", phone="", comment="x" * (COMMENT_MAX + 1), slots=SLOTS)
    assert too_long == "comment_too_long"


def test_slots_are_on_the_next_working_days_in_the_customers_zone() -> None:
    friday_night = datetime(2026, 1, 9, 23, 30, tzinfo=UTC)  # Saturday in Berlin
    slots = _slots(friday_night, "Europe/Berlin")
    assert slots[:2] == ["2026-01-12 10:00", "2026-01-12 15:00"]  # Monday
    assert len(slots) == 6
    assert _slots(friday_night, "Not/AZone")[0] == "2026-01-12 10:00"
