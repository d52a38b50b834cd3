"""Offer channels, one module each; adding one is a module plus one line in CHANNELS."""

from __future__ import annotations

from devicecare.config import Settings
from notifier.channels.base import OfferChannel, Outgoing, Recipient, SendResult
from notifier.channels.device import DeviceChannel
from notifier.channels.email import EmailChannel
from notifier.channels.webhook import WebhookChannel

CHANNELS: dict[str, type[OfferChannel]] = {
    DeviceChannel.name: DeviceChannel,
    EmailChannel.name: EmailChannel,
    WebhookChannel.name: WebhookChannel,
}


def configured(settings: Settings) -> list[OfferChannel]:
    """The channels of `notifier.channels` that are configured, in that order."""
    built = (CHANNELS[name].from_settings(settings) for name in settings.notifier.channels)
    return [channel for channel in built if channel is not None]


__all__ = ["CHANNELS", "OfferChannel", "Outgoing", "Recipient", "SendResult", "configured"]
