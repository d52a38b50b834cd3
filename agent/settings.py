"""The agent's settings: a TOML file laid down at enrolment, overridable per variable.

The agent keeps to its own small loader (msgspec, tomllib) rather than the server's
pydantic settings: pydantic alone costs about 12 MB resident, a third of the agent's
40 MB budget. Variables are `DEVICECARE_AGENT__<FIELD>` (nested with `__`), and the file
is `DEVICECARE_AGENT_CONFIG` or `.devicecare/agent/agent.toml`.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from devicecare.contracts import CollectorConfig, CollectorName, limits
from devicecare.contracts.topics import DEVICE_ID_PATTERN
from devicecare.errors import ConfigError
from devicecare.mqttclient import MqttEndpoint

CONFIG_ENV = "DEVICECARE_AGENT_CONFIG"
ENV_PREFIX = "DEVICECARE_AGENT__"
DEFAULT_CONFIG = Path(".devicecare/agent/agent.toml")

DEFAULT_INTERVALS: dict[CollectorName, int] = {
    CollectorName.BATTERY: 60,
    CollectorName.THERMAL: 60,
    CollectorName.CRASH: 60,
    CollectorName.STORAGE: 900,
}

DEFAULT_CRASH_DIRS = (
    "/var/lib/systemd/coredump",
    "/var/crash",
    "/data/tombstones",
    "/data/system/dropbox",
    "/sys/fs/pstore",
)


def _default_collectors() -> dict[CollectorName, CollectorConfig]:
    return {name: CollectorConfig(interval_s=s) for name, s in DEFAULT_INTERVALS.items()}


Seconds = Annotated[float, Meta(gt=0)]


class AgentSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    device_id: Annotated[str, Meta(pattern=DEVICE_ID_PATTERN)]
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    state_dir: str | None = None
    root: str = "/"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    upload_interval_s: Annotated[int, Meta(ge=1, le=86_400)] = 900
    collectors: dict[CollectorName, CollectorConfig] = msgspec.field(
        default_factory=_default_collectors
    )
    crash_dirs: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_CRASH_DIRS))
    mounts: list[str] = msgspec.field(default_factory=lambda: ["/data", "/"])
    queue_budget_bytes: Annotated[int, Meta(ge=64 * 1024)] = 8 * 1024 * 1024
    batch_max_samples: Annotated[int, Meta(ge=1, le=limits.MAX_SAMPLES_PER_BATCH)] = 500
    drain_batches_per_s: Seconds = 2.0
    max_inflight: Annotated[int, Meta(ge=1, le=100)] = 4
    keepalive_s: Annotated[int, Meta(ge=5, le=3600)] = 60
    reconnect_min_s: Seconds = 1.0
    reconnect_max_s: Seconds = 300.0
    status_interval_s: Annotated[int, Meta(ge=10)] = 3600
    session_expiry_s: Annotated[int, Meta(ge=0)] = 7 * 24 * 3600

    def __post_init__(self) -> None:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be at least reconnect_min_s")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        if not self.mqtt_url.startswith(("mqtt://", "mqtts://")):
            raise ValueError(f"mqtt_url must start with mqtt:// or mqtts://, not {self.mqtt_url!r}")

    def endpoint(self) -> MqttEndpoint:
        """The broker as this device: username defaults to the device id."""
        base = MqttEndpoint.from_url(
            self.mqtt_url, ca_file=self.ca_file, cert_file=self.cert_file, key_file=self.key_file
        )
        return MqttEndpoint(
            base.host,
            base.port,
            self.username or base.username or self.device_id,
            self.password if self.password is not None else base.password,
            base.tls,
            self.ca_file,
            self.cert_file,
            self.key_file,
        )

    def state_path(self, config_path: Path) -> Path:
        return Path(self.state_dir) if self.state_dir else config_path.parent


def config_path(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get(CONFIG_ENV, DEFAULT_CONFIG))


def _env_value(raw: str) -> object:
    return json.loads(raw) if raw[:1] in "[{" else raw


def _overlay(doc: dict, environ: Mapping[str, str]) -> dict:
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        node = doc
        for key in path[:-1]:
            node = node.setdefault(key, {})
        try:
            node[path[-1]] = _env_value(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{name}: not valid JSON: {exc}") from exc
    return doc


def _where(error: str) -> str:
    match = re.search(r"at `\$\.([^`]+)`", error)
    if not match:
        return ""
    parts = re.sub(r"\[(\w+)\]", r".\1", match[1]).split(".")
    return f" ({ENV_PREFIX}{'__'.join(p.upper() for p in parts)})"


def load_agent_settings(
    path: Path | None = None, environ: Mapping[str, str] = os.environ
) -> tuple[AgentSettings, Path]:
    """Read the file (if any) and the variables; return the settings and the file's path."""
    path = path or config_path(environ)
    try:
        doc = tomllib.loads(path.read_text()) if path.exists() else {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    doc = _overlay(doc, environ)
    if "device_id" not in doc:
        raise ConfigError(
            f"no device_id: enrol with `devicecare agent enroll`, write {path}, "
            f"or set {ENV_PREFIX}DEVICE_ID"
        )
    try:
        return msgspec.convert(doc, AgentSettings, strict=False), path
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid agent settings in {path}: {exc}{_where(str(exc))}") from exc
