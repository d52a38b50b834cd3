"""Thermal rules: heat where it does not belong, against the device's own physics.

`ThermalPaths` looks at the battery's temperature minus the CPU's. Both follow the
ambient temperature, so the difference does not move on a hot day or in a heat wave;
what it does depend on (load, power source, charging) is learned per device in cells of
load band x power state, with the device's own heating slope within a band correcting
for the load mix. The recent difference against the cell's baseline separates three
faults: a swelling battery runs warm while not charging; a faulty charger heats the
battery only while charging; failed cooling heats the CPU, pushing the difference the
other way, and makes the device throttle more often than it usually does at the same
load. `CpuLoad` covers devices without a battery temperature (gateways): it watches how
steeply the CPU heats with load, where failed cooling makes the slope steeper and
ambient heat only lifts the line (and moves too slowly to show in the sample-to-sample
changes the slope is measured on).
"""

from __future__ import annotations

import functools
import math
from typing import ClassVar

import numpy as np

from detectors.base import Rule
from detectors.block import Block, filled
from detectors.live.decay import DecayedRegression
from detectors.live.findings import (
    CLEAR_LEVEL,
    Assessment,
    Context,
    Explanation,
    confidence,
    rounded,
    times_text,
)
from devicecare.contracts import Severity
from devicecare.contracts.vocabulary import FaultKind

DAY = 86_400.0
HOUR = 3600.0
LOAD_BANDS = np.array([0.0, 15.0, 35.0, 60.0])
"""Lower edges of the CPU load bands (%) of the temperature cells. Within a band the
device's own heating slope corrects for the load mix, so a few wide bands suffice."""
THROTTLE_BANDS = np.array([0.0, 40.0, 60.0, 75.0, 85.0, 95.0])
"""Lower edges of the load bands in which throttling is counted: finer at the top,
where throttling rises steeply with load (a day of gaming at 100% is not a day at 60%)."""
ON_BATTERY, ON_MAINS, CHARGING = 0, 1, 2
POWER_STATES = 3
CELLS = len(LOAD_BANDS) * POWER_STATES
THROTTLE_CELLS = len(THROTTLE_BANDS) * POWER_STATES
LIGHT_LOAD_PCT = 35.0
"""Below this CPU load a sample is at light load."""
MAINS_CURRENT_A = 0.05
"""Not charging and drawing less than this from the battery: running on mains."""
MIN_WEIGHT = 8.0
"""Samples' worth of recent evidence (decayed) needed before a difference counts."""
MIN_BASE_WEIGHT = 8.0
"""Samples' worth of baseline a cell needs before its recent mean is compared."""
B_W, B_Y, B_YY, B_L, B_LL, B_LY = range(6)
"""Rows of `ThermalPaths.base`: per cell, the decayed weight and weighted sums of
y = battery - CPU temperature, y², load, load² and load x y."""
R_W, R_Y, R_L = range(3)
"""Rows of `ThermalPaths.recent`: weight, sums of y and load."""
T_ALL, T_THROTTLED = range(2)
"""Rows of the throttling counts: samples, throttled samples."""
MIN_THROTTLES = 5.0
"""Throttled samples in the recent window needed before more throttling counts."""
THROTTLE_Z = 4.0
"""More throttling counts when the observed count is this many standard deviations
(Poisson, square-root scale) above the count the device's usual share per load band
predicts."""
MIN_HISTORY = 1.5
"""The usual throttling share counts once the baseline holds at least this many times
the recent window's samples."""
THROTTLING_RATIO = 2.0
"""Throttling at this multiple of the device's usual share at the same loads is, on its
own, failed cooling (level 1)."""
MAX_THROTTLE_LEVEL = 3.0
PRIOR_DAYS = 3.0
"""Days' worth of weight of the prior on the day-to-day noise of the recent-minus-
baseline differences, before the device's own has been measured."""
SPREAD_AFTER_DAYS = 5.0
"""The day-to-day spread of a statistic is learned from this many days after the
(re)start on: before, the differences mostly show the baseline's own youth."""
MAX_STEP_S = 3600.0
"""Consecutive samples further apart than this are not compared."""


def _score(z: np.ndarray) -> np.ndarray:
    """|z| of 0 -> 0, 4 -> 0.63, 8 -> 0.98: a calibrated score in [0, 1]."""
    out = 1.0 - np.exp(-((filled(z, 0.0) / 4.0) ** 2))
    return np.asarray(out, dtype=np.float64)


@functools.cache
def _taus(
    memory_days: float, recent_hours: float, charging_hours: float
) -> tuple[np.ndarray, np.ndarray]:
    """Time constants per cell (baseline, recent), shared read-only by every device with
    the same parameters."""
    charging = np.arange(CELLS) % POWER_STATES == CHARGING
    taus = (
        np.full(CELLS, memory_days * DAY),
        np.where(charging, charging_hours * HOUR, recent_hours * HOUR),
    )
    for tau in taus:
        tau.setflags(write=False)
    return taus


def _accumulate(
    sums: np.ndarray,
    t: float,
    *,
    tau: np.ndarray,
    ts: np.ndarray,
    cell: np.ndarray,
    values: np.ndarray,
) -> float:
    """Decay `sums` (rows x cells, in place) to the block's last time and add `values`
    (rows x samples, 0 where a sample does not count) to their cells, each sample
    weighted by its age; returns the sums' new time."""
    now = float(ts[-1])
    if not math.isnan(t):
        sums *= np.exp((t - now) / tau)
    w = np.exp((ts - now) / tau[cell])
    rows, cells = sums.shape
    index = (np.arange(rows)[:, None] * cells + cell[None, :]).ravel()
    sums += np.bincount(index, (values * w).ravel(), rows * cells).reshape(rows, cells)
    return now


def _at(sums: np.ndarray, t: float, tau: np.ndarray, now: float) -> np.ndarray:
    """The sums decayed to data time `now` (as they stand, before any update)."""
    if math.isnan(t):
        return np.zeros(sums.shape)
    return sums * np.exp(min(0.0, t - now) / tau)


def _day_to_day(
    spread: np.ndarray, t: float, now: float, values: np.ndarray, *, floors: np.ndarray, tau: float
) -> np.ndarray:
    """The day-to-day spread (root mean square) of statistics that should stay near 0 on
    a healthy device, shrunk towards `floors` while little is known (`PRIOR_DAYS`).
    `spread` (statistics x (days' weight, sum of squares), decayed with `tau` from data
    time `t`) is decayed to `now` in place; the caller adds `values` with `_learn`."""
    if not math.isnan(t):
        spread *= math.exp(min(0.0, t - now) / tau)
    return np.sqrt((spread[:, 1] + PRIOR_DAYS * floors**2) / (spread[:, 0] + PRIOR_DAYS))


def _learn(spread: np.ndarray, t: float, now: float, values: np.ndarray, bar: np.ndarray) -> None:
    """Add the finite `values` under `bar` (`noise_k` times the spread so far) to
    `spread`, each weighted by the days since the last assessment (at most 1), so
    frequent uploads do not count more. A value at or beyond the bar is evidence, not
    noise: learning it would let a slowly growing fault raise its own bar."""
    days = 1.0 if math.isnan(t) else min(1.0, max(0.0, now - t) / DAY)
    known = np.isfinite(values) & (np.abs(values) < bar)
    spread[known, 0] += days
    spread[known, 1] += days * values[known] ** 2


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den where den > 0, else NaN."""
    return np.divide(num, den, out=np.full(np.shape(num), np.nan), where=den > 0)


def _power_state(block: Block) -> np.ndarray:
    charging = filled(block.col("battery_charging"), 0.0) > 0.5
    current = block.col("battery_current_a")
    mains = ~charging & np.isfinite(current) & (current >= -MAINS_CURRENT_A)
    return np.where(charging, CHARGING, np.where(mains, ON_MAINS, ON_BATTERY))


def _band(load: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.clip(np.searchsorted(edges, load, side="right") - 1, 0, len(edges) - 1)


class Throttling:
    """How often the device throttles per load band and power state: the counts of the
    last `recent_days` calendar days (a ring of daily counts), and the usual share over
    `memory_days` before them (a day joins the baseline only when it leaves the ring, so
    a rise is compared with the time before it rather than absorbed as it grows). The
    recent throttled count is compared with the count the usual shares predict for the
    recent samples' loads, so heavier use (more time at high load, where throttling is
    normal) does not count, while throttling more often at the same loads does.

    Throttling follows the surroundings too: a sample whose reference temperature (a
    thermometer for the surroundings: the battery's, or a gateway's own load-corrected
    CPU temperature) is `warm_c` or more above its cell's usual level (a heat wave, a
    warm trip, a long charge in a hot car) counts neither way."""

    __slots__ = ("base_t", "counts", "day", "memory_days", "reference", "usual_t", "warm_c")

    def __init__(self, memory_days: float, recent_days: int, warm_c: float) -> None:
        self.memory_days = memory_days
        self.warm_c = warm_c
        self.counts = np.zeros((recent_days + 2, 2, THROTTLE_CELLS), dtype=np.float32)
        """One array for the state's size: `base`, `usual` and the `ring`'s days."""
        self.base_t = math.nan
        self.usual_t = math.nan
        self.reference = np.zeros((recent_days + 1, 2), dtype=np.float32)
        """The light-load, not charging reference's sum and count: per day of the ring,
        and (last row) the baseline's (for `warming`)."""
        self.day = -1
        """The day number (data time // 1 day) of the ring's newest slot."""

    def __getstate__(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setstate__(self, state: tuple[object, ...]) -> None:
        for name, value in zip(self.__slots__, state, strict=True):
            setattr(self, name, value)

    @property
    def base(self) -> np.ndarray:
        """Per cell, the usual samples and throttled samples (decayed, as of `base_t`)."""
        return self.counts[0]

    @property
    def usual(self) -> np.ndarray:
        """Per cell, the decayed count and sum of the reference temperature of the
        samples that counted (as of `usual_t`)."""
        return self.counts[1]

    @property
    def ring(self) -> np.ndarray:
        """Per day of the ring (day number modulo its length), samples and throttled
        samples per cell."""
        return self.counts[2:]

    @property
    def recent_days(self) -> int:
        return len(self.counts) - 2

    def _advance(self, day: int, *, learn: bool) -> None:
        """Make `day` the ring's newest slot; the days that leave it join the baseline
        (when `learn`), weighted by their age."""
        if self.day < 0:
            self.day = day
            return
        tau = self.memory_days * DAY
        for leaving in range(self.day - self.recent_days + 1, day - self.recent_days + 1):
            i = leaving % self.recent_days
            if learn and self.ring[i, T_ALL].any():
                end = (leaving + 1) * DAY
                keep = 1.0 if math.isnan(self.base_t) else math.exp((self.base_t - end) / tau)
                self.counts[0] = self.base * keep + self.ring[i]
                self.reference[-1] = self.reference[-1] * keep + self.reference[i]
                self.base_t = end
            self.ring[i] = 0.0
            self.reference[i] = 0.0
        self.day = max(self.day, day)

    def _warm(self, cell: np.ndarray, ref: np.ndarray) -> np.ndarray:
        """Which samples' surroundings were `warm_c` or more warmer than usual for their
        cell (none where the cell's usual level is not known yet)."""
        count, total = self.usual[0][cell], self.usual[1][cell]
        usual = np.where(count >= MIN_BASE_WEIGHT, total / np.maximum(count, 1.0), np.nan)
        with np.errstate(invalid="ignore"):
            return ref - usual >= self.warm_c

    def update(self, block: Block, reference: np.ndarray, *, learn: bool) -> None:
        """Count the block's samples (those not in warm surroundings) and learn their
        `reference` temperatures (NaN where a sample has none); days leaving the ring
        join the usual shares when `learn`."""
        throttled = block.col("thermal_throttled")
        load = block.col("cpu_load_pct")
        ok = np.isfinite(throttled) & np.isfinite(load)
        if not ok.any():
            return
        state = _power_state(block)[ok]
        cell = _band(load[ok], THROTTLE_BANDS) * POWER_STATES + state
        ref = reference[ok]
        counted = ~self._warm(cell, ref)
        if not counted.any():
            return
        ts, cell, ref = block.ts[ok][counted], cell[counted], ref[counted]
        hot = throttled[ok][counted] > 0.5
        light = (load[ok][counted] < LIGHT_LOAD_PCT) & (state[counted] != CHARGING)
        known = np.isfinite(ref)
        if learn and known.any():
            values = np.vstack((np.ones(int(known.sum())), ref[known]))
            tau = np.full(THROTTLE_CELLS, self.memory_days * DAY)
            self.usual_t = _accumulate(
                self.usual, self.usual_t, tau=tau, ts=ts[known], cell=cell[known], values=values
            )
        days = (ts // DAY).astype(np.int64)
        for day in np.unique(days).tolist():
            self._advance(day, learn=learn)
            if day <= self.day - self.recent_days:
                continue
            mine = days == day
            slot = self.ring[day % self.recent_days]
            slot[T_ALL] += np.bincount(cell[mine], minlength=THROTTLE_CELLS)
            slot[T_THROTTLED] += np.bincount(cell[mine & hot], minlength=THROTTLE_CELLS)
            chosen = mine & known & light
            self.reference[day % self.recent_days] += (
                float(ref[chosen].sum()),
                float(chosen.sum()),
            )

    def warming(self) -> float:
        """The light-load reference over the ring's days less its usual level."""
        total, n = self.reference[:-1].sum(axis=0).tolist()
        usual_total, usual_n = self.reference[-1].tolist()
        if n <= 0 or usual_n <= 0:
            return math.nan
        return total / n - usual_total / usual_n

    def _recent(self) -> np.ndarray:
        """The ring's counts."""
        return self.ring.sum(axis=0, dtype=np.float64)

    def _base_at(self, now: float) -> np.ndarray:
        if math.isnan(self.base_t):
            return np.zeros_like(self.base, dtype=np.float64)
        return self.base * math.exp(min(0.0, self.base_t - now) / (self.memory_days * DAY))

    def excess(self, now: float) -> tuple[float, float, float]:
        """(observed, expected, z) recent throttled samples, over the cells the device
        has a usual share for; NaN while the baseline holds less than `MIN_HISTORY`
        times the recent samples. z counts the Poisson noise of the recent count and
        that of the baseline's own count (a usual share learned from a few throttles is
        uncertain), on the square-root scale, where a small Poisson count's noise is
        about 1 (a plain z overstates a rise from 1 to 4)."""
        base = self._base_at(now)
        recent = self._recent()
        known = base[T_ALL] >= MIN_BASE_WEIGHT
        if base[T_ALL][known].sum() < MIN_HISTORY * recent[T_ALL][known].sum():
            return math.nan, math.nan, math.nan
        # a cell never seen throttling counts half a throttled sample in its baseline:
        # a first throttle there is not infinitely surprising
        counts = np.maximum(base[T_THROTTLED][known], 0.5)
        expected = float(recent[T_ALL][known] @ (counts / base[T_ALL][known]))
        observed = float(recent[T_THROTTLED][known].sum())
        if expected <= 0:
            return observed, expected, math.nan
        learned = float(base[T_THROTTLED][known].sum()) + 0.5
        z = 2.0 * (math.sqrt(observed) - math.sqrt(expected))
        return observed, expected, z / math.sqrt(1.0 + expected / learned)

    def usual_share(self, now: float) -> float:
        base = self._base_at(now)
        total = base[T_ALL].sum()
        return float(base[T_THROTTLED].sum() / total) if total > 0 else math.nan

    def recent_share(self) -> float:
        recent = self._recent()
        total = recent[T_ALL].sum()
        return float(recent[T_THROTTLED].sum() / total) if total > 0 else math.nan

    def level(self, now: float) -> tuple[float, float]:
        """(level, ratio): throttling at `THROTTLING_RATIO` times the usual share at the
        same loads and significant (z at `THROTTLE_Z`) is level 1: the lower of the two
        fractions; 0 under `MIN_THROTTLES`."""
        observed, expected, z = self.excess(now)
        if math.isnan(z):
            return 0.0, math.nan
        ratio = observed / expected
        if observed < MIN_THROTTLES or ratio <= 1.0:
            return 0.0, ratio
        level = min((ratio - 1.0) / (THROTTLING_RATIO - 1.0), z / THROTTLE_Z)
        return max(0.0, min(MAX_THROTTLE_LEVEL, level)), ratio


class ThermalPaths(Rule):
    """Battery minus CPU temperature, per load band and power state, recent against the
    device's own baseline; and throttling against the device's usual share.

    Samples fall in cells of `LOAD_BANDS` x power state (on battery, on mains, charging),
    since the same load means different power (and heat) on mains and on battery.
    Throttled samples are left out (throttling caps the CPU's temperature). Each cell
    keeps a baseline over `memory_days` and a recent mean over `recent_hours`
    (`charging_hours` for charging cells, pooling several charge sessions). The
    difference recent - baseline per cell, corrected for a different load mix within the
    band by the device's own within-band heating slope (per power state), averaged over
    the cells with enough of both, gives three statistics (not charging, light load not
    charging, charging). Each is read against the device's own noise:

    - failed cooling: the CPU hotter at light load (the difference negative), beyond
      max(`cooling_c`, `noise_k` x the day-to-day spread of that statistic on this
      device); and, as evidence in its own right, throttling more often than the
      device's usual share at the same loads (`Throttling`, over `throttle_days`), the
      samples when the battery, the device's own thermometer for its surroundings, ran
      `heat_c` warmer than usual for their cell (a heat wave, a warm trip) left out.
      The two combine in quadrature;
    - a swelling battery: the battery warmer while not charging, beyond max(`swelling_c`,
      sigma), sigma the cells' pooled within-cell noise;
    - a faulty charger: extra heat only while charging, beyond max(`charger_c`, sigma) over
      what the battery shows when not charging.

    The baselines (and the day-to-day spreads) stop learning while any of them is
    half-way to a fault."""

    name = "thermal_paths"
    kinds: ClassVar[tuple[str, ...]] = (
        FaultKind.BATTERY_SWELLING,
        FaultKind.FAULTY_CHARGER,
        FaultKind.COOLING_FAILURE,
    )
    needs: ClassVar[tuple[str, ...]] = ("battery_temp_c", "cpu_temp_c", "cpu_load_pct")

    def __init__(
        self,
        *,
        memory_days: float = 21.0,
        recent_hours: float = 24.0,
        charging_hours: float = 48.0,
        throttle_days: int = 4,
        warmup_days: float = 2.0,
        swelling_c: float = 2.0,
        charger_c: float = 2.5,
        cooling_c: float = 1.5,
        heat_c: float = 2.0,
        noise_k: float = 4.0,
        light_bands: int = 2,
    ) -> None:
        self.memory_days = memory_days
        self.recent_hours = recent_hours
        self.charging_hours = charging_hours
        self.throttle_days = throttle_days
        self.warmup_days = warmup_days
        self.swelling_c = swelling_c
        self.charger_c = charger_c
        self.cooling_c = cooling_c
        self.heat_c = heat_c
        self.noise_k = noise_k
        self.light_bands = light_bands
        self.sums = np.zeros((9, CELLS), dtype=np.float32)
        """`base` and `recent` in one array, in single precision (for the state's size;
        ample for temperatures and loads), read in double."""
        self.base_t = self.recent_t = math.nan
        self.throttling = Throttling(memory_days, throttle_days, heat_c)
        self.spread = np.zeros((3, 2))
        """Per statistic (not charging, light load, charging): decayed days' worth and
        sum of squares of its values, the device's own day-to-day noise."""
        self.spread_t = math.nan
        self.first = math.nan
        self.levels = (0.0, 0.0, 0.0)
        """Swelling, charger and cooling levels as last seen with enough evidence: one
        without fresh evidence (no charging lately) keeps its last value."""
        self.frozen = False

    @property
    def base(self) -> np.ndarray:
        """Per cell, rows `B_W` ... `B_LY`, decayed as of `base_t`."""
        return self.sums[:6]

    @property
    def recent(self) -> np.ndarray:
        """Per cell, rows `R_W` ... `R_L`, decayed as of `recent_t`."""
        return self.sums[6:]

    def _taus(self) -> tuple[np.ndarray, np.ndarray]:
        return _taus(self.memory_days, self.recent_hours, self.charging_hours)

    @staticmethod
    def _cells(block: Block) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each sample's cell, y = battery - CPU temperature (NaN when throttled or
        unknown) and load."""
        load = block.col("cpu_load_pct")
        cell = _band(filled(load, 0.0), LOAD_BANDS) * POWER_STATES + _power_state(block)
        y = block.col("battery_temp_c") - block.col("cpu_temp_c")
        y = np.where(
            (filled(block.col("thermal_throttled"), 0.0) > 0.5) | np.isnan(load), np.nan, y
        )
        return cell, y, load

    def _baseline(self, now: float) -> tuple[np.ndarray, ...]:
        """Per cell: baseline weight, mean y, mean load, within-band slope of y on load
        (per power state), residual variance."""
        base = _at(self.base, self.base_t, self._taus()[0], now)
        w = base[B_W]
        means = _ratio(base, w)
        mean_y, mean_l = means[B_Y], means[B_L]
        var_y = np.maximum(means[B_YY] - mean_y**2, 0.0)
        var_l = np.maximum(means[B_LL] - mean_l**2, 0.0)
        cov = means[B_LY] - mean_l * mean_y
        # cells are band x power state: the columns of a (bands, states) view
        spread = np.nan_to_num(w * var_l).reshape(-1, POWER_STATES).sum(axis=0)
        together = np.nan_to_num(w * cov).reshape(-1, POWER_STATES).sum(axis=0)
        per_state = _ratio(together, spread)
        slope = np.tile(np.nan_to_num(per_state), len(LOAD_BANDS))
        residual = np.maximum(var_y - slope**2 * var_l, 0.0)
        return w, mean_y, mean_l, slope, residual

    def score_block(self, block: Block) -> np.ndarray:
        if not len(block) or not self.warm(float(block.ts[-1])):
            return np.zeros(len(block))
        cell, y, load = self._cells(block)
        w, mean_y, mean_l, slope, residual = self._baseline(float(block.ts[-1]))
        expected = mean_y[cell] + slope[cell] * (load - mean_l[cell])
        z = np.abs(y - expected) / np.maximum(filled(np.sqrt(residual[cell]), 1.0), 1.0)
        return np.where(w[cell] >= MIN_BASE_WEIGHT, _score(z), 0.0)

    def learn_block(self, block: Block, mask: np.ndarray) -> None:
        if not len(block):
            return
        if math.isnan(self.first):
            self.first = float(block.ts[0])
        cell, y, load = self._cells(block)
        self.throttling.update(block, block.col("battery_temp_c"), learn=not self.frozen)
        ok = np.isfinite(y)
        if not ok.any():
            return
        ts, cell, y, load = block.ts[ok], cell[ok], y[ok], load[ok]
        base_tau, recent_tau = self._taus()
        recent = np.vstack((np.ones(len(ts)), y, load))
        self.recent_t = _accumulate(
            self.recent, self.recent_t, tau=recent_tau, ts=ts, cell=cell, values=recent
        )
        if self.frozen:
            return
        learn = mask[ok].astype(np.float64)
        base = np.vstack((learn, y, y * y, load, load * load, load * y)) * learn
        self.base_t = _accumulate(
            self.base, self.base_t, tau=base_tau, ts=ts, cell=cell, values=base
        )

    def warm(self, now: float) -> bool:
        return not math.isnan(self.first) and now - self.first >= self.warmup_days * DAY

    def rebaseline(self, now: float) -> None:
        """An OS update may change how hot the CPU runs for a load, or how often it
        throttles: learn anew, with a fresh warm-up."""
        self.sums[:] = 0.0
        self.base_t = self.recent_t = math.nan
        self.throttling = Throttling(self.memory_days, self.throttle_days, self.heat_c)
        self.spread = np.zeros_like(self.spread)
        self.spread_t = math.nan
        self.first = now
        self.levels = (0.0, 0.0, 0.0)
        self.frozen = False

    def _statistics(self, now: float) -> tuple[float, float, float, float]:
        """Recent minus baseline, load-corrected and weighted over the cells with enough
        of both: not charging, at light load not charging, charging (NaN where no cell
        has enough); the pooled noise sigma."""
        w, mean_y, mean_l, slope, residual = self._baseline(now)
        recent = _at(self.recent, self.recent_t, self._taus()[1], now)
        rw = recent[R_W]
        diff = _ratio(recent[R_Y], rw) - mean_y - slope * (_ratio(recent[R_L], rw) - mean_l)
        ok = (w >= MIN_BASE_WEIGHT) & (rw >= 1.0)
        index = np.arange(CELLS)
        state, band = index % POWER_STATES, index // POWER_STATES
        light = (band < self.light_bands) & (state != CHARGING)

        def excess(cells: np.ndarray, values: np.ndarray) -> float:
            chosen = cells & ok
            if rw[chosen].sum() < MIN_WEIGHT:
                return math.nan
            return float(np.average(values[chosen], weights=rw[chosen]))

        known = w > 0
        sigma = (
            float(math.sqrt(np.average(residual[known], weights=w[known])))
            if known.any()
            else math.nan
        )
        return (
            excess(state != CHARGING, diff),
            excess(light, diff),
            excess(state == CHARGING, diff),
            sigma,
        )

    def _noise(self, now: float, values: tuple[float, float, float]) -> np.ndarray:
        """The day-to-day spread of each statistic on this device (`_day_to_day`), its
        prior floor / `noise_k`; learns `values` unless frozen."""
        floors = np.array([self.swelling_c, self.cooling_c, self.charger_c]) / self.noise_k
        tau = self.memory_days * DAY
        rms = _day_to_day(self.spread, self.spread_t, now, np.array(values), floors=floors, tau=tau)
        if not self.frozen and now - self.first >= SPREAD_AFTER_DAYS * DAY:
            bars = self.noise_k * rms
            _learn(self.spread, self.spread_t, now, np.array(values), bars)
        self.spread_t = now
        return rms

    def assess(self, now: float, context: Context) -> list[Assessment]:
        if not self.warm(now):
            return []
        resting, light, charge, sigma = self._statistics(now)
        if math.isnan(sigma):
            return []
        spread = self._noise(now, (resting, light, charge))
        swelling, charger, cooling = self.levels
        throttle_level, ratio = self.throttling.level(now)
        if not math.isnan(resting):
            swelling = resting / max(self.swelling_c, sigma)
        hot = 0.0
        if not math.isnan(light):
            hot = -light / max(self.cooling_c, self.noise_k * float(spread[1]))
        if not math.isnan(light) or throttle_level > 0:
            cooling = (
                math.hypot(max(hot, 0.0), throttle_level) if hot > 0 else max(hot, throttle_level)
            )
        if not math.isnan(charge):
            rest = 0.0 if math.isnan(resting) else max(resting, 0.0)
            charger = (charge - rest) / max(self.charger_c, sigma) if swelling < 0.5 else 0.0
        self.levels = (swelling, charger, cooling)
        self.frozen = max(self.levels) >= 0.5
        noun = context.noun
        throttled = self.throttling.recent_share()
        evidence = {
            "battery_minus_cpu_change_c": rounded(resting),
            "battery_minus_cpu_change_light_load_c": rounded(light),
            "battery_minus_cpu_change_charging_c": rounded(charge),
            "battery_warming_light_load_c": rounded(self.throttling.warming()),
            "noise_c": rounded(sigma),
            "light_load_day_to_day_noise_c": rounded(float(spread[1])),
            "throttled_share": rounded(throttled),
            "throttled_share_baseline": rounded(self.throttling.usual_share(now)),
            "throttling_vs_usual_at_same_load": rounded(ratio),
        }
        warmer = max(resting if not math.isnan(resting) else 0.0, 0.0)
        hotter = max(charge if not math.isnan(charge) else 0.0, 0.0)
        cpu = max(-light if not math.isnan(light) else 0.0, 0.0)
        more_throttling = throttle_level > 0 and ratio >= 1.5

        def swollen() -> Explanation:
            return Explanation(
                Severity.CRITICAL if swelling >= 1 else Severity.HIGH,
                confidence(swelling),
                f"Your {noun}'s battery runs about {max(warmer, 1.0):.0f} °C warmer than it "
                f"normally does for the same use, while the rest of the {noun} does not: a "
                "sign of a swelling battery. Please stop charging it overnight and have it "
                "checked.",
                evidence,
            )

        def charger_heat() -> Explanation:
            return Explanation(
                Severity.HIGH,
                confidence(charger),
                f"Your {noun}'s battery gets about {max(hotter, 1.0):.0f} °C hotter than "
                "usual while charging, and only then: the charger or cable is the likely "
                "cause. Try another charger and let us check the old one.",
                evidence,
            )

        def hot_cpu() -> Explanation:
            often = _as_often(ratio)
            if cpu >= 1.0 and more_throttling:
                what = (
                    f"runs about {cpu:.0f} °C hotter than it used to at the same light load "
                    f"and slows itself down {often} as usual at the same load"
                )
            elif more_throttling:
                what = f"slows itself down {often} as it used to at the same load"
            else:
                what = f"runs about {max(cpu, 1.0):.0f} °C hotter than it used to at the same"
                what += " light load"
            return Explanation(
                Severity.HIGH,
                confidence(cooling),
                f"Your {noun}'s processor {what}, though the battery does not warm: its "
                "cooling has degraded. A free diagnostic at a store can restore it.",
                evidence,
            )

        return [
            Assessment(FaultKind.BATTERY_SWELLING, swelling, self.name, swollen),
            Assessment(FaultKind.FAULTY_CHARGER, charger, self.name, charger_heat),
            Assessment(FaultKind.COOLING_FAILURE, cooling, self.name, hot_cpu),
        ]


def _as_often(ratio: float) -> str:
    """ "twice as often", "3 times as often" (a ratio of at least 1.5)."""
    whole = max(2, round(ratio)) if math.isfinite(ratio) else 2
    return f"{times_text(whole)} as often"


class _Heating:
    """`CpuLoad`'s statistics, kept only on devices without a battery temperature."""

    __slots__ = ("baseline", "recent", "spread", "spread_t", "throttling")

    def __init__(self, rule: CpuLoad) -> None:
        self.baseline = DecayedRegression(rule.memory_days * DAY, 2)
        self.recent = DecayedRegression(rule.recent_days * DAY, 2)
        self.throttling = Throttling(rule.throttle_memory_days, rule.throttle_days, rule.ambient_c)
        self.spread = np.zeros((1, 2))
        """The light-load CPU warming's day-to-day spread (see `_day_to_day`)."""
        self.spread_t = math.nan

    def __getstate__(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setstate__(self, state: tuple[object, ...]) -> None:
        for name, value in zip(self.__slots__, state, strict=True):
            setattr(self, name, value)


class CpuLoad(Rule):
    """Failed cooling on a device without a battery temperature (a gateway), from how
    steeply its CPU heats with load and how often it throttles at the same loads. On a
    device with a battery temperature, `ThermalPaths` decides (it compares like with
    like per load band and power state): this rule is not built for it (`excludes`), and
    one built before the battery temperature showed drops its statistics and stays
    silent.

    Without a thermometer for its surroundings, the CPU's own temperature less its
    heating for the load is the reference: a sample `ambient_c` or more warmer than
    usual for its cell (a warm room, a heat wave) counts neither for nor against
    throttling; degraded cooling adds only a few degrees at a light load's watt or so. A
    smaller rise at light load, beyond
    max(`cooling_c`, `noise_k` x its day-to-day spread), counts too, but only while the
    device also throttles more (at least half-way to `Throttling`'s bar): on its own it
    could be the room. Steeper slope, more throttling and the warmer light load combine
    in quadrature. A gateway's throttling is counted over a week rather than 4 days:
    without a second thermometer it rests on throttling, and a gateway throttles
    rarely, so a few days hold too few throttles to tell a rise from chance."""

    name = "cpu_load"
    kinds: ClassVar[tuple[str, ...]] = (FaultKind.COOLING_FAILURE,)
    needs: ClassVar[tuple[str, ...]] = ("cpu_temp_c", "cpu_load_pct")
    excludes: ClassVar[tuple[str, ...]] = ("battery_temp_c",)

    def __init__(
        self,
        *,
        memory_days: float = 7.0,
        recent_days: float = 1.0,
        warmup_days: float = 1.5,
        slope_rise_c: float = 12.0,
        throttle_memory_days: float = 28.0,
        throttle_days: int = 7,
        ambient_c: float = 6.0,
        cooling_c: float = 1.5,
        noise_k: float = 4.0,
    ) -> None:
        self.memory_days = memory_days
        self.recent_days = recent_days
        self.warmup_days = warmup_days
        self.slope_rise_c = slope_rise_c
        self.throttle_memory_days = throttle_memory_days
        self.throttle_days = throttle_days
        self.ambient_c = ambient_c
        self.cooling_c = cooling_c
        self.noise_k = noise_k
        self.heating: _Heating | None = None
        self.first = math.nan
        self.last: tuple[float, float, float] = (math.nan, math.nan, math.nan)
        self.frozen = False
        self.battery_temp = False
        """Whether the device reports a battery temperature (then `ThermalPaths` rules)."""

    def _design(self, block: Block) -> tuple[np.ndarray, np.ndarray]:
        """Changes from one sample to the next: the CPU's temperature change against the
        load's. Ambient heat moves slowly and drops out of the differences."""
        prev_t, prev_load, prev_temp = self.last
        ts = np.concatenate(([prev_t], block.ts))
        load = np.concatenate(([prev_load], block.col("cpu_load_pct"))) / 100.0
        temp = np.concatenate(([prev_temp], block.col("cpu_temp_c")))
        adjacent = np.diff(ts) <= MAX_STEP_S
        x = np.column_stack((np.ones(len(block)), np.where(adjacent, np.diff(load), np.nan)))
        return x, np.diff(temp)

    def score_block(self, block: Block) -> np.ndarray:
        beta = None if self.heating is None else self.heating.baseline.coef()
        if beta is None or not self.warm(block.ts[-1] if len(block) else math.nan):
            return np.zeros(len(block))
        x, y = self._design(block)
        return _score(filled(y - x @ beta, 0.0) / 3.0)

    def learn_block(self, block: Block, mask: np.ndarray) -> None:
        if not len(block) or self.battery_temp:
            return
        if block.has("battery_temp_c"):
            self.battery_temp = True
            self.heating = None
            return
        if self.heating is None:
            self.heating = _Heating(self)
        heating = self.heating
        if math.isnan(self.first):
            self.first = float(block.ts[0])
        x, y = self._design(block)
        heating.recent.update(block.ts, x, y)
        load, temp = block.col("cpu_load_pct"), block.col("cpu_temp_c")
        beta = heating.baseline.coef()
        heats = math.nan if beta is None else float(beta[1])
        # the reference: the CPU's temperature less the device's own heating for the
        # load, what the surroundings and the cooling make of it
        reference = temp - heats * load / 100
        heating.throttling.update(block, reference, learn=not self.frozen)
        if not self.frozen:
            heating.baseline.update(block.ts[mask], x[mask], y[mask])
        self.last = (float(block.ts[-1]), float(load[-1]), float(temp[-1]))

    def warm(self, now: float) -> bool:
        return not math.isnan(self.first) and now - self.first >= self.warmup_days * DAY

    def rebaseline(self, now: float) -> None:
        """After an OS update: learn the heating slope and throttling anew."""
        if self.heating is not None:
            self.heating = _Heating(self)
        self.first = now
        self.frozen = False

    def assess(self, now: float, context: Context) -> list[Assessment]:
        heating = self.heating
        if heating is None or not self.warm(now):
            return []
        base, recent = heating.baseline.coef(), heating.recent.coef()
        if base is None or recent is None:
            return []
        rise = float(recent[1] - base[1])
        slope_level = rise / self.slope_rise_c
        throttling = heating.throttling
        throttle_level, ratio = throttling.level(now)
        warming = throttling.warming()
        tau = self.throttle_memory_days * DAY
        floors = np.array([self.cooling_c / self.noise_k])
        noise = float(
            _day_to_day(
                heating.spread, heating.spread_t, now, np.array([warming]), floors=floors, tau=tau
            )[0]
        )
        hot = 0.0
        if throttle_level >= CLEAR_LEVEL and 0.0 < warming < self.ambient_c:
            hot = warming / max(self.cooling_c, self.noise_k * noise)
        level = math.hypot(max(slope_level, 0.0), throttle_level, hot)
        if not self.frozen and now - self.first >= SPREAD_AFTER_DAYS * DAY:
            bar = np.array([self.noise_k * noise])
            _learn(heating.spread, heating.spread_t, now, np.array([warming]), bar)
        heating.spread_t = now
        self.frozen = level >= CLEAR_LEVEL
        more_throttling = throttle_level > 0 and ratio >= 1.5

        def explain() -> Explanation:
            parts = []
            if rise >= 1.0 and slope_level >= CLEAR_LEVEL:
                parts.append(f"heats up {rise:.0f} °C more than it used to under full load")
            if hot >= CLEAR_LEVEL and warming >= 1.0:
                parts.append(f"runs about {warming:.0f} °C hotter at light load")
            if more_throttling:
                parts.append(f"slows itself down {_as_often(ratio)} as usual at the same load")
            what = " and ".join(parts) or (
                f"heats up {max(rise, 1.0):.0f} °C more than it used to under full load"
            )
            return Explanation(
                Severity.HIGH,
                confidence(level),
                f"Your {context.noun}'s processor now {what}: its cooling has degraded. A "
                "free diagnostic at a store can restore it.",
                {
                    "cpu_heating_per_load_c": rounded(float(recent[1])),
                    "cpu_heating_per_load_baseline_c": rounded(float(base[1])),
                    "throttled_share": rounded(throttling.recent_share()),
                    "throttled_share_baseline": rounded(throttling.usual_share(now)),
                    "throttling_vs_usual_at_same_load": rounded(ratio),
                    "cpu_light_load_warming_c": rounded(warming),
                    "light_load_day_to_day_noise_c": rounded(noise),
                },
            )

        return [Assessment(FaultKind.COOLING_FAILURE, level, self.name, explain)]
