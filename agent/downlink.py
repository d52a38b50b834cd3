"""What the server sends the device: its retained config and care offers.

A config is validated against the contract before it replaces the last good one (kept
in the store across restarts); a refused one is remembered as `config_error` for the
status message, and an empty retained message returns to the local settings. An offer
is kept (once, even when re-delivered) and shown only with consent to care offers.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Callable

import msgspec

from agent.consent import Consent
from agent.store import Store
from devicecare.contracts import Channel, DeviceConfig, Offer, decode, topics
from devicecare.errors import ContractError

log = logging.getLogger(__name__)

REMOTE_CONFIG = "remote_config"
CONFIG_ERROR = "config_error"
_CONFIG = msgspec.json.Decoder(DeviceConfig)


class Downlink:
    def __init__(self, store: Store, device_id: str, *, on_config: Callable[[bool], None]) -> None:
        """`on_config(applied)` follows every config message; `applied` is True when a new
        config took effect (the schedule starts afresh), False when cleared or refused."""
        self.store = store
        self.device_id = device_id
        self._on_config = on_config

    def config(self) -> DeviceConfig | None:
        """The last good remote config, if any."""
        raw = self.store.get(REMOTE_CONFIG)
        return None if raw is None else _CONFIG.decode(raw)

    def config_error(self) -> str | None:
        return self.store.get(CONFIG_ERROR)

    def received(self, topic: str, payload: bytes) -> None:
        """A message from the broker; anything not for this device is ignored."""
        try:
            where = topics.parse(topic)
        except ContractError as exc:
            log.warning("ignoring message: %s", exc)
            return
        if where.device_id != self.device_id:
            return
        if where.channel is Channel.CONFIG:
            self._apply_config(where, payload)
        elif where.channel is Channel.OFFERS:
            self._offer(where, payload)

    def _apply_config(self, where: topics.DeviceTopic, payload: bytes) -> None:
        applied = False
        if not payload:
            self.store.delete(REMOTE_CONFIG)
            self.store.delete(CONFIG_ERROR)
            log.info("remote config cleared; local settings apply")
        else:
            try:
                config = decode(where, payload)
            except ContractError as exc:
                log.warning("rejected remote config: %s", exc.detail)
                self.store.set(CONFIG_ERROR, f"{exc.reason}: {exc.detail}"[:512])
            else:
                assert isinstance(config, DeviceConfig)
                self.store.set(REMOTE_CONFIG, msgspec.json.encode(config).decode())
                self.store.delete(CONFIG_ERROR)
                log.info("applied remote config revision %s", config.revision)
                applied = True
        self._on_config(applied)

    def _offer(self, where: topics.DeviceTopic, payload: bytes) -> None:
        try:
            offer = decode(where, payload)
        except ContractError as exc:
            log.warning("ignoring an offer: %s", exc)
            return
        assert isinstance(offer, Offer)
        if not Consent.load(self.store).care_offers:
            log.info("offer %s not shown: no consent to care offers", offer.offer_id)
            return
        if self.store.save_offer(offer.offer_id, msgspec.json.encode(offer)):
            show(offer)


def show(offer: Offer) -> None:
    """A desktop notification where the desktop has one; the log otherwise."""
    notify = shutil.which("notify-send")
    hint = f"answer with: devicecare agent respond {offer.offer_id} accept|dismiss"
    if notify:
        try:
            subprocess.run(
                [notify, "--app-name=DeviceCare", offer.title, f"{offer.body}\n\n{hint}"],
                timeout=5,
                check=False,
                capture_output=True,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("notify-send failed: %s", exc)
        else:
            return
    log.info("care offer %s: %s (%s)", offer.offer_id, offer.title, hint)
