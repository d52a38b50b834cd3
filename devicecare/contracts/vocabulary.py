"""The service's shared vocabulary: fault kinds, severities, statuses, touch points, channels.

Every package (simulator, detectors, notifier, API, dashboards) names these through the
enums here; the database's CHECK constraints spell the same values, and a test fails when
a value is spelled as a literal elsewhere.
"""

from __future__ import annotations

from enum import StrEnum

from devicecare.contracts.payloads import Answer, Severity

__all__ = [
    "SEVERITY_RANK",
    "Answer",
    "FaultCategory",
    "FaultKind",
    "FeedbackVerdict",
    "FindingStatus",
    "NotifyChannel",
    "OfferStatus",
    "Severity",
    "TaskResult",
    "TaskStatus",
    "TouchPoint",
    "at_least",
]


class FaultCategory(StrEnum):
    """The four families a fault belongs to; recall is reported per category."""

    BATTERY = "battery"
    THERMAL = "thermal"
    STORAGE = "storage"
    CRASH = "crash"


class FaultKind(StrEnum):
    """What a finding says is wrong with a device, and what an offer is about."""

    BATTERY_FADE = "battery_fade"
    BATTERY_SWELLING = "battery_swelling"
    BATTERY_BAD_CELL = "battery_bad_cell"
    COOLING_FAILURE = "cooling_failure"
    FAULTY_CHARGER = "faulty_charger"
    CRASH_LOOP = "crash_loop"
    KERNEL_FAULT = "kernel_fault"
    STORAGE_RUNAWAY = "storage_runaway"
    FLASH_EOL = "flash_eol"

    @property
    def category(self) -> FaultCategory:
        return _CATEGORY[self]


_CATEGORY = {
    FaultKind.BATTERY_FADE: FaultCategory.BATTERY,
    FaultKind.BATTERY_SWELLING: FaultCategory.BATTERY,
    FaultKind.BATTERY_BAD_CELL: FaultCategory.BATTERY,
    FaultKind.COOLING_FAILURE: FaultCategory.THERMAL,
    FaultKind.FAULTY_CHARGER: FaultCategory.THERMAL,
    FaultKind.CRASH_LOOP: FaultCategory.CRASH,
    FaultKind.KERNEL_FAULT: FaultCategory.CRASH,
    FaultKind.STORAGE_RUNAWAY: FaultCategory.STORAGE,
    FaultKind.FLASH_EOL: FaultCategory.STORAGE,
}

SEVERITY_RANK: dict[Severity, int] = {s: i for i, s in enumerate(Severity)}
"""Severity order, least to most severe: the enum's declaration order."""


def at_least(severity: Severity, floor: Severity) -> bool:
    """Whether `severity` is as severe as `floor` or more."""
    return SEVERITY_RANK[severity] >= SEVERITY_RANK[floor]


class FindingStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    FALSE_ALARM = "false_alarm"


class FeedbackVerdict(StrEnum):
    """A verdict on a finding in `finding_feedback`: the owner or a repair said it was
    wrong, or a repair found the fault. The detectors learn from both."""

    FALSE_ALARM = "false_alarm"
    CONFIRMED = "confirmed"


class OfferStatus(StrEnum):
    """An offer's life cycle; the first four are *live* (at most one per device and kind)."""

    CREATED = "created"
    SENT = "sent"
    DELIVERED = "delivered"
    VIEWED = "viewed"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    RESOLVED = "resolved"

    @property
    def live(self) -> bool:
        return self in _LIVE


_LIVE = frozenset(
    {OfferStatus.CREATED, OfferStatus.SENT, OfferStatus.DELIVERED, OfferStatus.VIEWED}
)


class TaskStatus(StrEnum):
    """An actionable interaction (a store visit or call-back to do): open until closed."""

    OPEN = "open"
    CLOSED = "closed"


class TaskResult(StrEnum):
    """What closing a task found: the fault (confirms the finding) or nothing (false alarm)."""

    FAULT_FOUND = "fault_found"
    NO_FAULT_FOUND = "no_fault_found"


class TouchPoint(StrEnum):
    """Where a contact with a customer or device happened."""

    DEVICE_APP = "device_app"
    WEB = "web"
    HOTLINE = "hotline"
    STORE = "store"
    EMAIL = "email"
    SYSTEM = "system"


class NotifyChannel(StrEnum):
    """PostgreSQL NOTIFY channels: who wakes whom.

    Ingest notifies `INGEST` after each committed flush (the detectors listen); a trigger on
    findings and answers notifies `NOTIFIER` (the notifier listens).
    """

    INGEST = "devicecare_ingest"
    NOTIFIER = "devicecare_notifier"
