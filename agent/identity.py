"""What the device is: model and operating system, read once at start below the root.

Linux gives the model in DMI (`/sys/class/dmi/id/product_name`, or the device tree's
`/proc/device-tree/model` on boards) and the system in `/etc/os-release`; Android keeps
both in `/system/build.prop`. The server compares a device with its cohort by them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agent.collectors.base import read_text


@dataclass(frozen=True)
class Identity:
    model: str | None = None
    os_name: str | None = None
    os_version: str | None = None


def _properties(text: str | None, separator: str = "=") -> dict[str, str]:
    out = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition(separator)
        if sep and not key.startswith("#"):
            out[key.strip()] = value.strip().strip('"')
    return out


def identify(root: Path) -> Identity:
    build = _properties(read_text(root / "system/build.prop"))
    if build:
        return Identity(
            build.get("ro.product.model") or None,
            "Android",
            build.get("ro.build.version.release") or None,
        )
    release = _properties(read_text(root / "etc/os-release"))
    model = read_text(root / "sys/class/dmi/id/product_name") or read_text(
        root / "proc/device-tree/model"
    )
    return Identity(
        (model or "").strip("\x00")[:128] or None,
        (release.get("NAME") or "")[:64] or None,
        (release.get("VERSION_ID") or "")[:64] or None,
    )
