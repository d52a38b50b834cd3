"""Layers and their merge: pure functions, no database or broker.

A layer holds only the settings it sets (`upload_interval_s`, per-collector `enabled` /
`interval_s`, `high_res`); anything it leaves out comes from the broader layers or the
agent's defaults. The effective revision is the highest revision among the layers that
apply, so it grows whenever any of them changes (layers are only ever added).

A layer may expire (`expires_at`): past it, its settings no longer apply. Ending it takes
a new revision (`ended_revision`), which then stands for the layer in the effective
revision, so the config without it goes out as a change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import msgspec

from devicecare.contracts import CollectorName, DeviceConfig
from devicecare.contracts.limits import SCHEMA_VERSION
from devicecare.errors import DeviceCareError


class Scope(StrEnum):
    FLEET = "fleet"
    COHORT = "cohort"
    DEVICE = "device"


class ConfigError(DeviceCareError):
    """A layer that the contract would refuse (named field and value)."""


@dataclass(frozen=True, slots=True)
class Layer:
    revision: int
    scope: Scope
    settings: dict[str, Any]
    model: str | None = None
    os_version: str | None = None
    device_id: str | None = None
    expires_at: datetime | None = None
    ended_revision: int | None = None

    def live(self, at: datetime | None) -> bool:
        """Whether its settings apply at `at` (None: ignore expiry, only an end counts)."""
        if self.ended_revision is not None:
            return False
        return self.expires_at is None or at is None or at < self.expires_at

    @property
    def latest_revision(self) -> int:
        """The revision this layer contributes: its own, or the one that ended it."""
        return self.ended_revision if self.ended_revision is not None else self.revision

    @property
    def specificity(self) -> int:
        """Fleet 0, cohort by model 1, cohort by model and OS version 2, device 3."""
        if self.scope is Scope.DEVICE:
            return 3
        if self.scope is Scope.COHORT:
            return 2 if self.os_version is not None else 1
        return 0

    def applies_to(self, device_id: str, model: str | None, os_version: str | None) -> bool:
        if self.scope is Scope.DEVICE:
            return self.device_id == device_id
        if self.scope is Scope.COHORT:
            return self.model == model and self.os_version in (None, os_version)
        return True


def merge(layers: list[Layer]) -> dict[str, Any]:
    """The settings of `layers` merged, broad to specific, later revisions over earlier."""
    merged: dict[str, Any] = {}
    for layer in sorted(layers, key=lambda la: (la.specificity, la.revision)):
        for key, value in layer.settings.items():
            if key == "collectors":
                collectors = merged.setdefault("collectors", {})
                for name, fields in value.items():
                    collectors[name] = {**collectors.get(name, {}), **fields}
            else:
                merged[key] = value
    return merged


def effective(
    layers: list[Layer],
    device_id: str,
    model: str | None,
    os_version: str | None,
    at: datetime | None = None,
) -> DeviceConfig | None:
    """The config a device should run at `at`, or None when no layer applies to it; the
    settings of layers that expired or ended are left out, their revisions kept."""
    mine = [la for la in layers if la.applies_to(device_id, model, os_version)]
    if not mine:
        return None
    revision = max(la.latest_revision for la in mine)
    body = {"v": SCHEMA_VERSION, "revision": revision, **merge([la for la in mine if la.live(at)])}
    return msgspec.convert(body, DeviceConfig)


def validate(settings: dict[str, Any]) -> dict[str, Any]:
    """`settings` checked against the contract before it is stored; ConfigError names the field."""
    try:
        msgspec.convert({"v": SCHEMA_VERSION, "revision": 0, **settings}, DeviceConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid config: {exc}") from exc
    unknown = set(settings.get("collectors", {})) - set(CollectorName)
    if unknown:
        raise ConfigError(f"unknown collectors: {sorted(unknown)}")
    return settings
