"""The server-side MQTT accounts and the client ids they connect with.

Part of the contract because every server part connects as one of them and the broker's
rules are written for them; the development stack creates them, production brokers
must have the same accounts with the same rights (docs/protocol.md, docs/design.md).
"""

from __future__ import annotations

from enum import StrEnum


class ServiceAccount(StrEnum):
    """Server-side MQTT accounts; the leading `_` can never be a device id."""

    INGEST = "_ingest"
    NOTIFIER = "_notifier"
    MONITOR = "_monitor"
    ADMIN = "_admin"
    """Manages the broker's accounts (dynamic-security `$CONTROL` topic); nothing else."""

    def client_id(self, instance: str) -> str:
        """A client id for one connection of this account.

        It starts with the account's `_`, which no device id has, and devices are bound to
        their own device id: no device can take over (or wipe) a service's session.
        """
        return f"{self.value}-{instance}"[:64]
