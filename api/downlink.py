"""Consent from the API reaches the device as remote configuration.

When the owner withdraws telemetry consent through the API, the device gets a
device-scoped configuration layer (`deviceconfig`) with every collector off (on again
when consent is given back), published retained on its `config` topic, so the agent stops
collecting even if it was offline at the time: it gets the retained message when it
reconnects. One revision sequence for every config a device gets, whoever sets it.
"""

from __future__ import annotations

import logging
from datetime import datetime

import psycopg

from devicecare.config import Settings
from devicecare.contracts.payloads import CollectorName
from devicecare.errors import DeviceCareError
from deviceconfig import publish, store
from deviceconfig.layers import Scope

log = logging.getLogger(__name__)


class ConfigPublisher:
    """Adds consent layers and publishes them; the broker is reached per call (consent
    changes are rare, so a standing connection is not worth its upkeep)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: Settings) -> ConfigPublisher:
        return cls(settings)

    def consent(
        self, conn: psycopg.Connection, device_id: str, telemetry: bool, at: datetime, actor: str
    ) -> str | None:
        """Store the consent layer and publish it; None when the broker acknowledged,
        else why not (the layer stays stored and `devicecare config push` resends it)."""
        collectors = {name.value: {"enabled": telemetry} for name in CollectorName}
        store.add_layer(
            conn,
            Scope.DEVICE,
            {"collectors": collectors},
            actor=actor,
            reason="telemetry consent " + ("given" if telemetry else "withdrawn"),
            device_id=device_id,
        )
        try:
            publish.apply(conn, self.settings, Scope.DEVICE, at=at, device_id=device_id)
        except DeviceCareError as exc:
            log.warning("consent config for %s not published: %s", device_id, exc)
            return str(exc)
        return None
