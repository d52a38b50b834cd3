"""Outbox entries on their way: published from the outbox, settled by their PUBACKs.

An entry is published once per MQTT session and leaves the outbox only with the
broker's answer: accepted, or refused. A PUBACK saying nobody is subscribed means the
server side is down; the entry stays and sending pauses, backing off exponentially, so
the device neither loses the batch nor floods a broker that keeps nothing.
"""

from __future__ import annotations

import logging
import time

from agent.outbox import Outbox, OutboxEntry
from agent.settings import AgentSettings
from agent.uplink import Uplink
from devicecare.mqttclient import Outcome

log = logging.getLogger(__name__)


class Delivery:
    def __init__(self, settings: AgentSettings, outbox: Outbox, uplink: Uplink) -> None:
        self.settings = settings
        self.outbox = outbox
        self.uplink = uplink
        self.inflight: dict[int, OutboxEntry] = {}
        """Message id of each entry published on this session and not yet acknowledged."""
        self.hold_until = 0.0
        self.holds = 0

    def room(self) -> bool:
        """Fewer than `max_inflight` batches await the broker's acknowledgement."""
        return self.outbox.unsent()[0] < self.settings.max_inflight

    def send(self) -> None:
        """Publish every outbox entry not yet on its way on this session."""
        if time.monotonic() < self.hold_until:
            return
        if sum(self.outbox.unsent()) <= len(self.inflight):
            return  # everything in the outbox is on its way already
        sending = {entry.id for entry in self.inflight.values()}
        for entry in self.outbox.pending():
            if entry.id in sending:
                continue
            mid = self.uplink.publish(entry.channel, entry.payload)
            if mid is None:
                return
            self.inflight[mid] = entry

    def settle(self) -> None:
        """Apply the acknowledgements that arrived: accept, reject, or hold and retry."""
        for mid, outcome in self.uplink.acks():
            entry = self.inflight.pop(mid, None)
            if entry is None:
                continue
            if outcome is Outcome.UNHEARD:
                self.holds += 1
                wait = min(
                    self.settings.reconnect_max_s,
                    self.settings.reconnect_min_s * 2 ** min(self.holds, 10),
                )
                self.hold_until = time.monotonic() + wait
                log.warning(
                    "no server is listening; keeping %s seq %s, retry in %.0f s",
                    entry.channel,
                    entry.seq,
                    wait,
                )
                continue
            self.holds = 0
            if outcome is Outcome.REFUSED:
                log.warning("broker refused %s batch seq %s", entry.channel, entry.seq)
                self.outbox.reject(entry)
            else:
                self.outbox.accept(entry)

    def new_session(self) -> None:
        """Nothing is in flight on a new session, so the whole outbox goes again."""
        self.inflight.clear()
