"""The local stack's recorded state: PIDs, ports, URLs and generated credentials.

Lives in `<state_dir>/stack/stack.json`, readable only by its owner. The MQTT passwords
are also written on their own to `mqtt-credentials.json`, the file that the settings'
`mqtt_credentials_file` points at in a development run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from devicecare.config import Settings


def stack_dir(settings: Settings) -> Path:
    return settings.state_dir.resolve() / "stack"


def state_file(settings: Settings) -> Path:
    return stack_dir(settings) / "stack.json"


def credentials_file(settings: Settings) -> Path:
    return stack_dir(settings) / "mqtt-credentials.json"


def read_state(settings: Settings) -> dict | None:
    """The local stack's recorded state, or None when it was never started here."""
    try:
        return json.loads(state_file(settings).read_text())
    except FileNotFoundError:
        return None


def write_private(path: Path, document: object) -> None:
    """Write JSON readable by its owner only, replacing the file in one step."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(document, out, indent=2)
    tmp.replace(path)
