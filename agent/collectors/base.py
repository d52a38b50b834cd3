"""The collector extension point: one small class per sensor family.

A collector reads one family of sensors below a root path (``/`` on a device, a fixture
tree in tests) and returns a Reading: gauge values named as the wire contract's sample
fields, discrete events, and the metrics it could not read on this device.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from devicecare.contracts import CollectorName, Event


@dataclass(frozen=True)
class KeyedEvent:
    """An event and the key that keeps it from being reported twice, across restarts."""

    key: str
    event: Event


@dataclass
class Reading:
    values: dict[str, object] = field(default_factory=dict)
    events: list[KeyedEvent] = field(default_factory=list)
    unavailable: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class CollectorContext:
    """What a collector may use besides its root: the agent's durable memory."""

    root: Path
    seen: Callable[[str], bool]
    remember: Callable[[Iterable[str]], None]
    state_get: Callable[[str], str | None]
    state_set: Callable[[str, str], None]
    crash_dirs: tuple[str, ...] = ()
    mounts: tuple[str, ...] = ()

    def path(self, absolute: str) -> Path:
        """A device path (``/sys/...``) below the root."""
        return self.root / absolute.lstrip("/")


class Collector(ABC):
    """Reads one sensor family; every call of `collect` is one tick."""

    name: ClassVar[CollectorName]

    def __init__(self, ctx: CollectorContext) -> None:
        self.ctx = ctx

    @abstractmethod
    def collect(self, now_ms: int) -> Reading:
        """Read the sensors now. Never raises for a missing sensor: it is `unavailable`."""


def read_text(path: Path) -> str | None:
    """A sysfs/procfs attribute, stripped; None when absent or unreadable."""
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return None


def read_int(path: Path) -> int | None:
    text = read_text(path)
    if text is None:
        return None
    try:
        return int(text.split()[0], 0)
    except (ValueError, IndexError):
        return None
