"""Publishing effective configs: retained QoS 1 on each device's `config` topic.

Retained, so an agent that is offline gets its config when it next connects; a PUBACK
with "no matching subscribers" is therefore still a success. Publication goes out as the
notifier's service account, the one allowed to write devices' downlink topics.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime

import psycopg

from devicecare.config import Settings
from devicecare.contracts import Channel, DeviceConfig, encode, topics
from devicecare.contracts.accounts import ServiceAccount
from devicecare.endpoints import mqtt_endpoint
from devicecare.errors import DeviceCareError
from devicecare.mqttclient import Outcome, Publisher
from deviceconfig import store
from deviceconfig.layers import Layer, Scope, effective

log = logging.getLogger(__name__)


class PublishError(DeviceCareError):
    """The broker could not be reached or refused a config."""


@dataclass(frozen=True, slots=True)
class Sent:
    device_id: str
    config: DeviceConfig


def plan(
    layers: list[Layer], targets: list[store.Target], *, force: bool, at: datetime | None = None
) -> list[Sent]:
    """The configs to send: each target's effective config at `at`, unless it has it."""
    out = []
    for target in targets:
        config = effective(layers, target.device_id, target.model, target.os_version, at)
        if config is not None and (force or config.revision != target.sent_revision):
            out.append(Sent(target.device_id, config))
    return out


def publish(settings: Settings, sends: list[Sent], timeout_s: float = 10.0) -> None:
    """Publish every config retained and wait for all PUBACKs; PublishError otherwise."""
    if not sends:
        return
    client_id = ServiceAccount.NOTIFIER.client_id(f"config-{socket.gethostname()}-{os.getpid()}")
    publisher = Publisher(mqtt_endpoint(settings, ServiceAccount.NOTIFIER), client_id)
    try:
        publisher.connect(keepalive=30, threaded=True)
        publisher.wait_connected(timeout_s)
        mids = {}
        for sent in sends:
            mid = publisher.publish(
                topics.topic(sent.device_id, Channel.CONFIG), encode(sent.config), retain=True
            )
            if mid is None:
                raise PublishError(f"could not queue the config of {sent.device_id}")
            mids[mid] = sent.device_id
        outcomes = publisher.wait(list(mids), timeout_s)
    except (OSError, TimeoutError, ConnectionError) as exc:
        raise PublishError(f"broker: {exc}") from exc
    finally:
        publisher.close()
    refused = sorted(mids[m] for m, o in outcomes.items() if o is Outcome.REFUSED)
    if refused:
        raise PublishError(f"the broker refused the config of {refused}")


def apply(
    conn: psycopg.Connection,
    settings: Settings,
    scope: Scope,
    *,
    at: datetime,
    force: bool = False,
    model: str | None = None,
    os_version: str | None = None,
    device_id: str | None = None,
) -> list[Sent]:
    """Send every device in a scope its effective config (those that lack it, or all with
    `force`), then record what was sent. Returns what was sent."""
    targets = store.targets(conn, scope, model=model, os_version=os_version, device_id=device_id)
    sends = plan(store.layers_for(conn, targets), targets, force=force, at=at)
    publish(settings, sends)
    with conn.transaction():
        for sent in sends:
            store.record_sent(conn, sent.device_id, sent.config.revision, at)
    log.info("config sent to %d of %d devices in scope %s", len(sends), len(targets), scope)
    return sends
