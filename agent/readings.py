"""One tick's collector readings made into outbox rows: one sample and its events.

The sample is checked against the contract here, once, before it is stored: a reading
the contract would refuse (a sensor glitch out of range) is left out of the sample
rather than costing the batch later. Metrics a device lacks are noted once.
"""

from __future__ import annotations

import logging
import re

import msgspec

from agent.collectors import Reading
from agent.outbox import Row
from devicecare.contracts import Channel, Sample, SampleDetail

log = logging.getLogger(__name__)

_FIELD = re.compile(r"at `\$\.(\w+)")


class Readings:
    def __init__(self) -> None:
        self.unavailable: set[str] = set()
        """Metrics this device does not have, as last collected."""

    def rows(self, ms: int, readings: list[Reading]) -> tuple[list[Row], bool]:
        """The rows to queue for readings taken at `ms`, and whether a metric newly went
        missing (the status message should say so soon)."""
        values: dict[str, object] = {}
        zones, mounts = [], []
        rows: list[Row] = []
        unavailable: set[str] = set()
        for reading in readings:
            detail = reading.values.pop("detail", None)
            if isinstance(detail, SampleDetail):
                zones += detail.zones
                mounts += detail.mounts
            values |= reading.values
            rows += [
                Row(Channel.EVENTS, k.event.ts, msgspec.json.encode(k.event), k.key)
                for k in reading.events
            ]
            unavailable |= reading.unavailable
        news = self._note_unavailable(unavailable, set(values))
        if zones or mounts:
            values["detail"] = msgspec.to_builtins(SampleDetail(zones=zones, mounts=mounts))
        sample = valid_sample(ms, values) if values else None
        if sample is not None:
            rows.insert(0, Row(Channel.TELEMETRY, ms, msgspec.json.encode(sample)))
        return rows, news

    def _note_unavailable(self, missing: set[str], present: set[str]) -> bool:
        new = missing - present - self.unavailable
        if new:
            log.info("not available on this device: %s", ", ".join(sorted(new)))
            self.unavailable |= new
        self.unavailable -= present
        return bool(new)


def valid_sample(ms: int, values: dict[str, object]) -> Sample | None:
    """The sample as the contract accepts it; an implausible reading is left out."""
    values = {"ts": ms, **values}
    while len(values) > 1:
        try:
            return msgspec.convert(values, Sample)
        except msgspec.ValidationError as exc:
            match = _FIELD.search(str(exc))
            if match is None or match[1] not in values or match[1] == "ts":
                log.warning("dropping a sample the contract refuses: %s", exc)
                return None
            log.warning("leaving out %s: %s", match[1], exc)
            del values[match[1]]
    return None
