"""Crashes: new crash reports since the last scan, and reboots.

Scans the configured crash folders (systemd-coredump, /var/crash, Android tombstones
and DropBox, pstore) for report files. A file is known by path, size and modification
time; known files are never reported again, across restarts, because the agent records
the key in the same transaction that queues the event. The first scan after consent
only takes note of what is already there: history from before the owner opted in is not
collected. A change of the kernel's boot id is reported as a reboot.
"""

from __future__ import annotations

import logging
from pathlib import Path

from agent.collectors.base import Collector, KeyedEvent, Reading, read_text
from agent.collectors.crash_formats import parser_for
from devicecare.contracts import CollectorName, Event, EventKind

log = logging.getLogger(__name__)

MAX_FILES_PER_SCAN = 200
BASELINED = "baselined"
BOOT_ID = "boot_id"


class CrashCollector(Collector):
    name = CollectorName.CRASH

    def collect(self, now_ms: int) -> Reading:
        reading = Reading()
        found = self._report_files()
        first_scan = self.ctx.state_get(BASELINED) is None
        if first_scan:
            self.ctx.remember(key for key, _ in found)
            self.ctx.state_set(BASELINED, str(now_ms))
        else:
            for key, path in found:
                if not self.ctx.seen(key) and (event := _parse(path)) is not None:
                    reading.events.append(KeyedEvent(key, event))
                if len(reading.events) >= MAX_FILES_PER_SCAN:
                    break
        if (reboot := self._reboot()) is not None:
            reading.events.append(reboot)
        return reading

    def _report_files(self) -> list[tuple[str, Path]]:
        found = []
        for folder in self.ctx.crash_dirs:
            base = self.ctx.path(folder)
            try:
                entries = sorted(base.iterdir())
            except OSError:
                continue
            for path in entries:
                if parser_for(path) is None:
                    continue
                try:
                    st = path.stat()
                except OSError:
                    continue
                found.append((f"file:{folder}/{path.name}:{st.st_size}:{st.st_mtime_ns}", path))
        return found

    def _reboot(self) -> KeyedEvent | None:
        boot_id = read_text(self.ctx.path("/proc/sys/kernel/random/boot_id"))
        if not boot_id:
            return None
        previous = self.ctx.state_get(BOOT_ID)
        if previous == boot_id:
            return None
        self.ctx.state_set(BOOT_ID, boot_id)
        if previous is None:
            return None
        btime = next(
            (
                read_int_line(line)
                for line in (read_text(self.ctx.path("/proc/stat")) or "").splitlines()
                if line.startswith("btime ")
            ),
            None,
        )
        if btime is None:
            return None
        return KeyedEvent(f"boot:{boot_id}", Event(ts=btime * 1000, kind=EventKind.REBOOT))


def read_int_line(line: str) -> int | None:
    try:
        return int(line.split()[1])
    except (IndexError, ValueError):
        return None


def _parse(path: Path) -> Event | None:
    parser = parser_for(path)
    if parser is None:
        return None
    try:
        report = parser(path)
        ts = path.stat().st_mtime_ns // 1_000_000
    except OSError as exc:
        log.warning("cannot read crash report %s: %s", path, exc)
        return None
    return Event(
        ts=ts,
        kind=report.kind,
        process=(report.process or None) and report.process[:128],
        signature=report.signature,
        app_version=(report.app_version or None) and report.app_version[:64],
    )
