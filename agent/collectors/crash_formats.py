"""Parsers for the crash reports devices leave behind, one per format.

Each turns a file into (kind, process, signature, app_version). A signature names the
same bug the same way on every device: addresses, offsets, numbers and ids are removed
before hashing, and a readable prefix is kept for people.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devicecare.contracts import EventKind

MAX_READ = 256 * 1024
_NOISE = re.compile(r"0x[0-9a-fA-F]+|\b[0-9a-fA-F]{8,}\b|\d+")


@dataclass(frozen=True)
class CrashReport:
    kind: EventKind
    process: str | None
    signature: str
    app_version: str | None = None


def signature(readable: str, *parts: str) -> str:
    """`readable` plus a short hash of the normalised parts; at most 128 characters."""
    normal = "\n".join(_NOISE.sub("#", p.strip()) for p in parts if p)
    digest = hashlib.sha1(normal.encode(), usedforsecurity=False).hexdigest()[:10]
    return f"{readable[:116]} {digest}".strip()


def _read(path: Path) -> str:
    with path.open("rb") as f:
        return f.read(MAX_READ).decode(errors="replace")


def tombstone(path: Path) -> CrashReport:
    """Android native crash (debuggerd tombstone)."""
    text = _read(path)
    head = re.search(r"name: (\S+)\s+>>> (.+?) <<<", text)
    process = head[2] if head else None
    sig = re.search(r"signal \d+ \((\w+)\)", text)
    frames = re.findall(
        r"#\d+ pc \S+\s+(\S+)(?: \((.+?)(?:\+\d+)?\))?\s*$", text, flags=re.MULTILINE
    )[:3]
    top = [f"{Path(lib).name}!{fn}" if fn else Path(lib).name for lib, fn in frames]
    signal = sig[1] if sig else "crash"
    readable = f"{signal} {top[0]}" if top else signal
    return CrashReport(EventKind.NATIVE_CRASH, process, signature(readable, signal, *top))


def apport(path: Path) -> CrashReport:
    """Ubuntu/Debian apport report (/var/crash/*.crash)."""
    text = _read(path)
    fields = dict(re.findall(r"^(\w+): (.*)$", text, flags=re.MULTILINE))
    executable = fields.get("ExecutablePath", "")
    process = Path(executable).name or None
    top = re.search(r"^StacktraceTop:\n((?: .*\n?){1,3})", text, flags=re.MULTILINE)
    frames = [line.strip().split(" (")[0] for line in (top[1].splitlines() if top else [])]
    interpreted = "InterpreterPath" in fields
    kind = EventKind.APP_CRASH if interpreted else EventKind.NATIVE_CRASH
    signal = f"signal {fields['Signal']}" if "Signal" in fields else fields.get("ProblemType", "")
    readable = f"{process or 'unknown'} {frames[0] if frames else signal}"
    version = fields.get("Package", "").split(" ")[1:2]
    return CrashReport(
        kind,
        process,
        signature(readable, executable, signal, *frames),
        version[0] if version else None,
    )


def coredump(path: Path) -> CrashReport:
    """systemd-coredump file: core.<comm>.<uid>.<boot id>.<pid>.<usec>[.zst]."""
    parts = path.name.split(".")
    process = parts[1] if len(parts) > 2 else None  # noqa: PLR2004
    readable = f"coredump {process or 'unknown'}"
    return CrashReport(EventKind.NATIVE_CRASH, process, signature(readable, process or ""))


def pstore(path: Path) -> CrashReport:
    """Kernel log saved across a reboot (ramoops/EFI pstore): an oops or a panic."""
    text = _read(path)
    panic = re.search(r"Kernel panic - not syncing: (.*)", text)
    where = re.search(r"(?:RIP: \w+:|PC is at |pc : )\s*([\w.]+)", text)
    bug = re.search(r"(BUG: .*|Oops: .*|Unable to handle kernel .*)", text)
    function = where[1] if where else ""
    if panic:
        reason = panic[1].strip()
        return CrashReport(
            EventKind.KERNEL_PANIC, "kernel", signature(f"panic {reason[:60]}", reason, function)
        )
    reason = bug[1].strip() if bug else "oops"
    readable = f"oops {function or reason[:60]}"
    return CrashReport(EventKind.KERNEL_OOPS, "kernel", signature(readable, reason, function))


def dropbox(path: Path) -> CrashReport:
    """Android app crash from DropBox (data_app_crash@<ms>.txt)."""
    text = _read(path)
    process = re.search(r"^Process: (\S+)", text, flags=re.MULTILINE)
    version = re.search(r"^Package: \S+ v\d+ \(([^)]+)\)", text, flags=re.MULTILINE)
    exception = re.search(r"^([\w.$]+(?:Exception|Error)\b)", text, flags=re.MULTILINE)
    frame = re.search(r"^\s+at ([\w.$<>]+)", text, flags=re.MULTILINE)
    name = exception[1] if exception else "crash"
    readable = f"{name.rsplit('.', 1)[-1]} {frame[1] if frame else ''}".strip()
    return CrashReport(
        EventKind.APP_CRASH,
        process[1] if process else None,
        signature(readable, name, frame[1] if frame else ""),
        version[1] if version else None,
    )


def parser_for(path: Path) -> Callable[[Path], CrashReport] | None:
    """The parser for a file name, or None for files that are not crash reports."""
    name = path.name
    if name.startswith("tombstone_") and not name.endswith(".pb"):
        return tombstone
    if name.endswith(".crash"):
        return apport
    if name.startswith("core."):
        return coredump
    if name.startswith(("dmesg-", "console-")) and "pstore" in str(path.parent):
        return pstore
    if name.startswith(("data_app_crash@", "system_app_crash@")):
        return dropbox
    return None
