"""Where the services are: the URLs in the settings, and nothing else.

A development run gets them from the local stack: the `devicecare` command line fills
the settings from it (`devstack.local.fill`) before any command runs, so no service
knows that the development stack exists.
"""

from __future__ import annotations

import dataclasses
import json

from devicecare.config import Settings
from devicecare.errors import StackError
from devicecare.mqttclient import MqttEndpoint


def database_url(settings: Settings) -> str:
    if settings.database_url is None:
        raise StackError("no database: set DEVICECARE_DATABASE_URL or run `devicecare stack up`")
    return str(settings.database_url)


def mqtt_endpoint(settings: Settings, account: str) -> MqttEndpoint:
    """The broker as `account` (a service account or a device id).

    Host, port and TLS come from DEVICECARE_MQTT_URL. The password comes from
    DEVICECARE_MQTT_CREDENTIALS_FILE when it is set (read at every call, so accounts
    created later are found); otherwise the URL's own credentials are used, whatever
    the account.
    """
    if settings.mqtt_url is None:
        raise StackError("no MQTT broker: set DEVICECARE_MQTT_URL or run `devicecare stack up`")
    endpoint = MqttEndpoint.from_url(str(settings.mqtt_url))
    path = settings.mqtt_credentials_file
    if path is None:
        return endpoint
    try:
        passwords = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise StackError(f"cannot read the MQTT credentials in {path}: {exc}") from exc
    if account not in passwords:
        raise StackError(f"{path} has no MQTT account {account!r}")
    return dataclasses.replace(endpoint, username=account, password=passwords[account])
