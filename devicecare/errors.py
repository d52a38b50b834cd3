"""Typed errors: every error DeviceCare raises on purpose derives from DeviceCareError."""


class DeviceCareError(Exception):
    """Base class of DeviceCare's own errors."""


class ConfigError(DeviceCareError):
    """A setting is missing or invalid."""


class StackError(DeviceCareError):
    """The local service stack could not be started, reached or stopped."""


class MigrationError(DeviceCareError):
    """A schema migration failed or the recorded history does not match the files."""


class ContractError(DeviceCareError):
    """A topic or payload violates the wire contract.

    `reason` is a short machine-readable code (for dead letters and counters), `detail`
    the human-readable explanation.
    """

    def __init__(self, reason: str, detail: str, *, topic: str | None = None) -> None:
        self.reason = reason
        self.detail = detail
        self.topic = topic
        where = f" (topic {topic})" if topic else ""
        super().__init__(f"{reason}: {detail}{where}")


class NotifierError(DeviceCareError):
    """The notifier's rules or settings are unusable, or a channel cannot be set up."""
