"""Where the services are: configured URLs first, else the local stack's state file."""

from __future__ import annotations

import json
from pathlib import Path

from devicecare.config import Settings
from devicecare.errors import StackError
from devicecare.mqttclient import MqttEndpoint


def stack_dir(settings: Settings) -> Path:
    return settings.state_dir.resolve() / "stack"


def state_file(settings: Settings) -> Path:
    return stack_dir(settings) / "stack.json"


def read_state(settings: Settings) -> dict | None:
    """The local stack's recorded state, or None when it was never started here."""
    try:
        return json.loads(state_file(settings).read_text())
    except FileNotFoundError:
        return None


def _no_stack(what: str, variable: str) -> StackError:
    return StackError(f"no {what}: run `devicecare stack up` or set {variable}")


def database_url(settings: Settings) -> str:
    if settings.database_url is not None:
        return str(settings.database_url)
    state = read_state(settings)
    if not state or not state.get("postgres", {}).get("pid"):
        raise _no_stack("database", "DEVICECARE_DATABASE_URL")
    return str(state["postgres"]["url"])


def mqtt_endpoint(settings: Settings, account: str) -> MqttEndpoint:
    """The broker as `account` (a service account or device id of the local stack).

    With DEVICECARE_MQTT_URL set, its credentials are used whatever the account.
    """
    if settings.mqtt_url is not None:
        return MqttEndpoint.from_url(str(settings.mqtt_url))
    state = read_state(settings)
    if not state or not state.get("mosquitto", {}).get("pid"):
        raise _no_stack("MQTT broker", "DEVICECARE_MQTT_URL")
    accounts = state["accounts"] | state["devices"]
    if account not in accounts:
        raise StackError(f"the local stack has no MQTT account {account!r}")
    return MqttEndpoint(
        host=state["mosquitto"]["host"],
        port=int(state["mosquitto"]["port"]),
        username=account,
        password=accounts[account],
    )
