"""The MQTT topic layout: the only place that spells a topic.

Every device topic is ``dc/v1/devices/{device_id}/{channel}``. Uplink channels are
published by the device, downlink channels by the server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from devicecare.errors import ContractError

ROOT = "dc/v1"
DEVICES = f"{ROOT}/devices"

DEVICE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
"""Device ids: 1-64 characters, letters, digits, ``_ . -``; never starting with
``_``, which is reserved for service accounts, and never containing MQTT wildcards."""

_DEVICE_ID = re.compile(DEVICE_ID_PATTERN)


class Channel(StrEnum):
    TELEMETRY = "telemetry"
    EVENTS = "events"
    STATUS = "status"
    CONSENT = "consent"
    OFFER_RESPONSES = "offer-responses"
    CONFIG = "config"
    OFFERS = "offers"

    @property
    def uplink(self) -> bool:
        """True when the device publishes on this channel, False when the server does."""
        return self not in _DOWNLINK


_DOWNLINK = frozenset({Channel.CONFIG, Channel.OFFERS})
UPLINK_CHANNELS: tuple[Channel, ...] = tuple(c for c in Channel if c.uplink)
DOWNLINK_CHANNELS: tuple[Channel, ...] = tuple(c for c in Channel if not c.uplink)
RETAINED_CHANNELS = frozenset({Channel.STATUS, Channel.CONFIG})


@dataclass(frozen=True, slots=True)
class DeviceTopic:
    device_id: str
    channel: Channel

    def __str__(self) -> str:
        return f"{DEVICES}/{self.device_id}/{self.channel.value}"


def is_valid_device_id(device_id: str) -> bool:
    return _DEVICE_ID.fullmatch(device_id) is not None


def check_device_id(device_id: str) -> str:
    if not is_valid_device_id(device_id):
        raise ContractError(
            "bad_device_id", f"device id {device_id!r} does not match {DEVICE_ID_PATTERN}"
        )
    return device_id


def topic(device_id: str, channel: Channel) -> str:
    """The topic of one device's channel."""
    return str(DeviceTopic(check_device_id(device_id), channel))


def parse(name: str) -> DeviceTopic:
    """Parse a concrete topic; raise ContractError for anything outside the layout."""
    prefix = DEVICES + "/"
    if not name.startswith(prefix):
        raise ContractError("bad_topic", f"not under {prefix}", topic=name)
    parts = name[len(prefix) :].split("/")
    if len(parts) != 2:  # noqa: PLR2004 - {device_id}/{channel}
        raise ContractError("bad_topic", "expected {device_id}/{channel}", topic=name)
    device_id, channel = parts
    if not is_valid_device_id(device_id):
        raise ContractError("bad_device_id", f"device id {device_id!r} is not valid", topic=name)
    try:
        return DeviceTopic(device_id, Channel(channel))
    except ValueError:
        raise ContractError("bad_topic", f"unknown channel {channel!r}", topic=name) from None


def subscription(channel: Channel, *, shared_group: str | None = None) -> str:
    """The filter matching one channel of every device, optionally as a shared subscription."""
    base = f"{DEVICES}/+/{channel.value}"
    return f"$share/{shared_group}/{base}" if shared_group else base


def acl_pattern(channel: Channel) -> str:
    """Mosquitto ACL pattern for one channel of the connected device (``%u`` = username)."""
    return f"{DEVICES}/%u/{channel.value}"
