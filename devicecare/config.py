"""The one settings object: environment variables prefixed DEVICECARE_, nested with __.

Load it once at start-up with `load_settings()` and pass it on; a wrong value stops the
program there with a message naming the variable.
"""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AnyHttpUrl,
    AnyUrl,
    BaseModel,
    Field,
    SecretStr,
    UrlConstraints,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from devicecare.contracts.vocabulary import Severity
from devicecare.errors import ConfigError

ENV_PREFIX = "DEVICECARE_"
ENV_NESTED_DELIMITER = "__"

PostgresUrl = Annotated[
    AnyUrl, UrlConstraints(allowed_schemes=["postgresql", "postgres"], host_required=True)
]
MqttUrl = Annotated[
    AnyUrl,
    UrlConstraints(allowed_schemes=["mqtt", "mqtts"], host_required=True, default_port=1883),
]


class StackSettings(BaseModel):
    """Where the project-local stack finds its binaries and which address it binds."""

    pg_bindir: Path | None = Field(
        default=None, description="PostgreSQL server binaries; default: `pg_config --bindir`"
    )
    mosquitto_bin: Path | None = Field(
        default=None, description="mosquitto executable; default: found on PATH or /usr/sbin"
    )
    host: Literal["127.0.0.1", "::1"] = "127.0.0.1"
    start_timeout_s: float = Field(default=30.0, gt=0)


class IngestSettings(BaseModel):
    """`devicecare ingest`: batching, back-pressure and the unknown-device policy."""

    shared_group: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9_-]*$",
        description="MQTT shared-subscription group for several workers; empty: one worker "
        "with a plain persistent subscription, which the broker queues for while it is down",
    )
    flush_max_samples: int = Field(default=20_000, ge=1)
    flush_interval_ms: int = Field(default=100, ge=1, le=60_000)
    queue_max_messages: int = Field(
        default=2_000, ge=10, description="messages held in memory before back-pressure"
    )
    unknown_devices: Literal["register", "dead_letter"] = "register"
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9464, ge=0, le=65535, description="0 turns /metrics off")
    retry_max_s: float = Field(default=10.0, gt=0)
    session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)
    health_interval_s: float = Field(default=5.0, gt=0)


class HighResSettings(BaseModel):
    """High-resolution sampling on suspicion (docs/detectors.md): while a fault kind's
    evidence builds, the live worker asks the device to sample its signals faster."""

    enabled: bool = Field(default=True, description="false: never raise sampling")
    level: float = Field(default=0.5, gt=0, lt=1, description="a kind's level that raises")
    hours: float = Field(default=48.0, gt=0, le=168, description="how long a raise lasts")
    interval_s: int = Field(default=10, ge=1, le=3600, description="sampling while raised")
    rest_hours: float = Field(
        default=72.0, ge=0, description="no new raise of a device this long after one ends"
    )
    budget_pct: float = Field(
        default=5.0, ge=0, le=100, description="at most this share of the fleet raised at once"
    )
    sweep_interval_s: float = Field(
        default=60.0, gt=0, description="how often ended raises are looked for"
    )


class DetectSettings(BaseModel):
    """`devicecare detect`: partitions of the device space, leases and checkpoints."""

    partitions: int = Field(
        default=16, ge=1, le=4096, description="partitions of the device space (hash of id)"
    )
    lease_s: float = Field(
        default=60.0, gt=0, description="a worker that stops renewing loses its partitions"
    )
    checkpoint_interval_s: float = Field(default=30.0, gt=0)
    read_batches: int = Field(
        default=5000, ge=1, description="batches taken from the feed at most per read"
    )
    idle_wait_s: float = Field(default=1.0, gt=0, description="longest wait for new batches")
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9465, ge=0, le=65535, description="0 turns /metrics off")
    high_res: HighResSettings = HighResSettings()


NotifierChannel = Literal["device", "email", "webhook"]


class NotifierSettings(BaseModel):
    """`devicecare notify`: rules file, policies, channels and the answer links.

    Durations are in the notifier's (injectable) clock; see docs/notifier.md.
    """

    rules_file: Path | None = Field(
        default=None, description="offer rules (TOML); default: notifier/rules.toml"
    )
    poll_interval_s: float = Field(
        default=30.0, gt=0, description="longest wait between passes; findings wake it sooner"
    )
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9466, ge=0, le=65535, description="0 turns /metrics off")
    channels: list[NotifierChannel] = Field(
        default=["device", "email", "webhook"],
        min_length=1,
        description="channels in order of preference; the next allowed one is the fallback",
    )
    quiet_hours_start: time = time(22, 0)
    quiet_hours_end: time = time(8, 0)
    quiet_hours_exempt: list[Severity] = Field(
        default=[Severity.CRITICAL], description="severities sent during quiet hours (safety)"
    )
    default_timezone: str = Field(default="UTC", description="for devices without an owner")
    cooldown_days: float = Field(
        default=30.0, ge=0, description="after a dismissal: no offer for the fault unless worse"
    )
    cap_offers: int = Field(default=3, ge=1, description="offers per customer in cap_window_days")
    cap_window_days: float = Field(default=7.0, gt=0)
    cap_exempt: list[Severity] = Field(default=[Severity.CRITICAL])
    storm_window_min: float = Field(default=60.0, gt=0)
    storm_share: float = Field(
        default=0.05, gt=0, le=1, description="share of the fleet getting one offer kind"
    )
    storm_min_devices: int = Field(default=20, ge=1)
    expire_after_h: float = Field(default=14 * 24.0, gt=0)
    reminder_after_h: float = Field(
        default=24.0, gt=0, description="one reminder for an unanswered critical offer"
    )
    retry_attempts: int = Field(default=4, ge=1, description="attempts per channel")
    retry_base_s: float = Field(default=30.0, gt=0)
    retry_max_s: float = Field(default=3600.0, gt=0)
    mqtt_timeout_s: float = Field(default=10.0, gt=0)
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_starttls: bool = True
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "DeviceCare <care@devicecare.invalid>"
    smtp_ca_file: Path | None = Field(
        default=None, description="CA to trust for STARTTLS; default: the system's"
    )
    smtp_timeout_s: float = Field(default=10.0, gt=0)
    webhook_url: AnyHttpUrl | None = None
    webhook_secret: SecretStr | None = None
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    link_secret: SecretStr | None = Field(
        default=None,
        description="HMAC key of the answer links; default: generated under the state folder",
    )
    public_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("http://127.0.0.1:8000"), description="where `devicecare api` is seen"
    )

    @model_validator(mode="after")
    def _consistent(self) -> NotifierSettings:
        if self.webhook_url is not None and self.webhook_secret is None:
            raise ValueError("webhook_url requires webhook_secret (the HMAC key)")
        if (self.smtp_username is None) != (self.smtp_password is None):
            raise ValueError("smtp_username and smtp_password go together")
        if self.smtp_password is not None and not self.smtp_starttls:
            raise ValueError("smtp_password requires smtp_starttls")
        if len(set(self.channels)) != len(self.channels):
            raise ValueError("channels must not repeat")
        return self


class ApiSettings(BaseModel):
    """`devicecare api`: where the HTTP API listens and how many worker processes serve it."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    pool_size: int = Field(default=4, ge=1, le=100, description="connections per worker")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        extra="forbid",
        frozen=True,
    )

    database_url: PostgresUrl | None = Field(
        default=None, description="external PostgreSQL/TimescaleDB; default: the local stack"
    )
    mqtt_url: MqttUrl | None = Field(
        default=None,
        description="external MQTT broker as mqtt[s]://user:password@host:port; "
        "default: the local stack",
    )
    mqtt_credentials_file: Path | None = Field(
        default=None,
        description="JSON object of MQTT account name -> password, read at each connection; "
        "default: the credentials of mqtt_url",
    )
    state_dir: Path = Field(
        default=Path(".devicecare"), description="local stack data, credentials and caches"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    stack: StackSettings = StackSettings()
    ingest: IngestSettings = IngestSettings()
    detect: DetectSettings = DetectSettings()
    notifier: NotifierSettings = NotifierSettings()
    api: ApiSettings = ApiSettings()


def env_name(loc: tuple[int | str, ...]) -> str:
    """The environment variable behind a validation error location."""
    return ENV_PREFIX + ENV_NESTED_DELIMITER.join(str(part) for part in loc).upper()


def load_settings(**overrides: object) -> Settings:
    """Read the environment; raise ConfigError naming each offending variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = [f"{env_name(err['loc'])}: {err['msg']}" for err in exc.errors()]
        raise ConfigError("invalid settings:\n  " + "\n  ".join(lines)) from exc
