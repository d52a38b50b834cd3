"""High-resolution sampling on suspicion in the live service: raises as device config layers.

A raise is a device layer of `deviceconfig` setting `high_res` (the signals concerned,
until when) that expires when the raise does; the layer is stored and published retained
through deviceconfig's own store and publish functions, as the notifier's service account.
When its time is up, the layer is ended (a new revision) and the device's normal config is
published. Both steps are put on the device's timeline (`interactions`). The policy
(threshold, rest, budget, consent) is `detectors.live.suspicion`'s; the clock is the wall
clock (injectable), since the device obeys `until` on its own clock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.types.json import Jsonb

from detectors.live.device import DeviceState
from detectors.live.suspicion import (
    Policy,
    Suspicion,
    Verdict,
    collectors_of,
    decide,
    evidence_text,
    signals_text,
    suspicions,
)
from devicecare.config import HighResSettings, Settings
from devicecare.contracts import CollectorName
from devicecare.contracts.vocabulary import TouchPoint
from deviceconfig import publish, store
from deviceconfig.layers import Scope, validate

log = logging.getLogger(__name__)

ACTOR = "detectors"
"""Who sets the raises' layers (and so which layers are raises)."""
LOCK_KEY = 0x44635352  # arbitrary, fixed: "DcSR"; one raise decision at a time, fleet-wide

_BOOK = """
SELECT d.device_id,
       d.consent_telemetry AS consent,
       EXISTS (SELECT 1 FROM device_config_layers l
               WHERE l.device_id = d.device_id AND l.actor = %(actor)s
                 AND l.ended_revision IS NULL AND l.expires_at > %(now)s) AS active,
       (SELECT max(coalesce(l.ended_at, l.expires_at)) FROM device_config_layers l
        WHERE l.device_id = d.device_id AND l.actor = %(actor)s
          AND coalesce(l.ended_at, l.expires_at) <= %(now)s) AS last_ended
FROM devices d WHERE d.device_id = ANY(%(devices)s)
"""
_RAISED = """
SELECT count(DISTINCT device_id) FROM device_config_layers
WHERE actor = %(actor)s AND ended_revision IS NULL AND expires_at > %(now)s
"""
_DUE = """
SELECT revision, device_id, settings FROM device_config_layers
WHERE actor = %(actor)s AND ended_revision IS NULL AND expires_at <= %(now)s
ORDER BY revision
"""
_NOTE = """
INSERT INTO interactions (ts, customer_id, device_id, touchpoint, kind, actor, summary, detail)
SELECT %(ts)s, customer_id, device_id, %(touchpoint)s, %(kind)s, %(actor)s, %(summary)s,
       %(detail)s
FROM devices WHERE device_id = %(device_id)s
"""


def policy_of(cfg: HighResSettings) -> Policy:
    return Policy(
        level=cfg.level,
        hours=cfg.hours,
        interval_s=cfg.interval_s,
        rest_hours=cfg.rest_hours,
        budget_pct=cfg.budget_pct,
    )


@dataclass(frozen=True)
class Raised:
    device_id: str
    revision: int
    until: datetime
    collectors: tuple[CollectorName, ...]
    why: str


class SamplingRaiser:
    """Raises the sampling of devices whose evidence is building, and restores it when the
    raise's time is up; the live worker calls `step` every round."""

    def __init__(
        self,
        settings: Settings,
        cfg: HighResSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.policy = policy_of(cfg)
        self.sweep_interval_s = cfg.sweep_interval_s
        self.clock = clock
        self.swept_at = -float("inf")
        self.looked_at: dict[str, float] = {}
        """When each device with a suspicion was last decided on (monotonic)."""
        self.unsent: set[str] = set()
        """Devices whose new config could not be published yet."""

    def step(self, conn: psycopg.Connection, states: Iterable[DeviceState]) -> None:
        """Raise the devices among `states` that the policy allows; every
        `sweep_interval_s`, end the raises whose time is up."""
        if time.monotonic() - self.swept_at >= self.sweep_interval_s:
            self.sweep(conn)
        self.consider(conn, states)

    def consider(self, conn: psycopg.Connection, states: Iterable[DeviceState]) -> list[Raised]:
        """Raise the devices among `states` whose evidence is building, if the policy
        allows (each device decided on at most once per sweep interval)."""
        mono = time.monotonic()
        found = {
            s.device_id: building
            for s in states
            if mono - self.looked_at.get(s.device_id, -float("inf")) >= self.sweep_interval_s
            and (building := suspicions(s, self.policy))
        }
        if not found:
            return []
        self.looked_at |= dict.fromkeys(found, mono)
        now = self.clock()
        raised = []
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            params = {"actor": ACTOR, "now": now, "devices": list(found)}
            with conn.cursor() as cur:
                book = {r[0]: r[1:] for r in cur.execute(_BOOK, params).fetchall()}
                count = cur.execute(_RAISED, params).fetchone()
                fleet = cur.execute("SELECT count(*) FROM devices").fetchone()
            active_now = count[0] if count else 0
            for device_id, building in found.items():
                if device_id not in book:
                    continue
                consent, active, last_ended = book[device_id]
                verdict = decide(
                    self.policy,
                    now.timestamp(),
                    active=active,
                    last_ended=None if last_ended is None else last_ended.timestamp(),
                    consent=bool(consent),
                    raised=active_now,
                    fleet=fleet[0] if fleet else 0,
                )
                if verdict is not Verdict.RAISE:
                    log.debug("%s: sampling not raised (%s)", device_id, verdict)
                    continue
                raised.append(self._raise(conn, device_id, building, now))
                active_now += 1
        self._send(conn, [r.device_id for r in raised], now)
        return raised

    def _raise(
        self, conn: psycopg.Connection, device_id: str, building: list[Suspicion], now: datetime
    ) -> Raised:
        until = now + timedelta(hours=self.policy.hours)
        collectors = tuple(collectors_of(building))
        why = evidence_text(building)
        high_res = {
            "until": int(until.timestamp() * 1000),
            "interval_s": self.policy.interval_s,
            "collectors": [c.value for c in collectors],
        }
        layer = store.add_layer(
            conn,
            Scope.DEVICE,
            validate({"high_res": high_res}),
            actor=ACTOR,
            reason=why,
            device_id=device_id,
            expires_at=until,
            at=now,
        )
        summary = (
            f"sampling raised for {signals_text(collectors)}"
            f" until {until:%Y-%m-%d %H:%M} UTC: {why}"
        )
        _note(
            conn,
            device_id,
            now,
            kind="sampling_raised",
            summary=summary,
            detail={
                "revision": layer.revision,
                "until": until.isoformat(),
                "interval_s": self.policy.interval_s,
                "collectors": high_res["collectors"],
                "suspicions": [
                    {"kind": s.kind, "level": round(s.level, 3), "rules": list(s.rules)}
                    for s in building
                ],
            },
        )
        log.info("%s: %s", device_id, summary)
        return Raised(device_id, layer.revision, until, collectors, why)

    def sweep(self, conn: psycopg.Connection) -> list[str]:
        """End the raises whose time is up, put that on the timeline and publish the
        devices' normal config (and retry configs that could not be published before)."""
        now = self.clock()
        ended = []
        with conn.transaction():
            rows = conn.execute(_DUE, {"actor": ACTOR, "now": now}).fetchall()
            for revision, device_id, settings in rows:
                ending = store.end_layer(conn, revision, now)
                if ending is None:
                    continue
                names = [CollectorName(c) for c in settings["high_res"].get("collectors", [])]
                _note(
                    conn,
                    device_id,
                    now,
                    kind="sampling_restored",
                    summary=f"sampling back to normal for"
                    f" {signals_text(names or list(CollectorName))}: the raise ran its time",
                    detail={"revision": revision, "ended_revision": ending},
                )
                ended.append(device_id)
        self.swept_at = time.monotonic()
        self.looked_at = {
            d: t for d, t in self.looked_at.items() if self.swept_at - t < self.sweep_interval_s
        }
        self._send(conn, ended, now)
        return ended

    def _send(self, conn: psycopg.Connection, devices: list[str], now: datetime) -> None:
        """Publish each device's effective config (retained); one that fails is retried
        at the next sweep."""
        for device_id in sorted({*devices, *self.unsent}):
            try:
                publish.apply(conn, self.settings, Scope.DEVICE, at=now, device_id=device_id)
                self.unsent.discard(device_id)
            except publish.PublishError as exc:
                log.warning("%s: config not published (%s); retrying later", device_id, exc)
                self.unsent.add(device_id)


def _note(
    conn: psycopg.Connection,
    device_id: str,
    at: datetime,
    *,
    kind: str,
    summary: str,
    detail: dict[str, object],
) -> None:
    """An entry on the device's timeline."""
    conn.execute(
        _NOTE,
        {
            "ts": at,
            "touchpoint": TouchPoint.SYSTEM.value,
            "kind": kind,
            "actor": ACTOR,
            "summary": summary,
            "detail": Jsonb(detail),
            "device_id": device_id,
        },
    )
