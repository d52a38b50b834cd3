"""Statistics that forget with time, updated a block of samples at a time.

Every sample's weight decays as exp(-age / tau) with its age in seconds, so irregular
sampling, gaps and late uploads weigh samples by when they were taken, not by how many
arrived. A block updates the sums in closed form (a few numpy operations, whatever
its length), which keeps per-device detection cheap.
"""

from __future__ import annotations

import math

import numpy as np


def _weights(ts: np.ndarray, now: float, tau: float) -> np.ndarray:
    return np.exp((ts - now) / tau)


class DecayedMean:
    """Exponentially time-weighted mean and variance of a signal."""

    __slots__ = ("s0", "s1", "s2", "t", "tau")

    def __init__(self, tau: float) -> None:
        self.tau = tau
        self.t = math.nan
        self.s0 = self.s1 = self.s2 = 0.0

    def __getstate__(self) -> tuple[float, ...]:
        return (self.tau, self.t, self.s0, self.s1, self.s2)

    def __setstate__(self, state: tuple[float, ...]) -> None:
        self.tau, self.t, self.s0, self.s1, self.s2 = state

    def update(self, ts: np.ndarray, x: np.ndarray) -> None:
        """Add samples (NaN values are skipped); `ts` ascending, after earlier updates."""
        ok = np.isfinite(x)
        if not ok.any():
            return
        ts, x = ts[ok], x[ok]
        now = float(ts[-1])
        keep = 1.0 if math.isnan(self.t) else math.exp((self.t - now) / self.tau)
        w = _weights(ts, now, self.tau)
        self.s0 = self.s0 * keep + float(w.sum())
        self.s1 = self.s1 * keep + float(w @ x)
        self.s2 = self.s2 * keep + float(w @ (x * x))
        self.t = now

    def weight_at(self, now: float) -> float:
        """The samples' total weight as of `now` (how much evidence there is)."""
        if math.isnan(self.t):
            return 0.0
        return self.s0 * math.exp(min(0.0, self.t - now) / self.tau)

    @property
    def mean(self) -> float:
        return self.s1 / self.s0 if self.s0 > 0 else math.nan

    @property
    def var(self) -> float:
        if self.s0 <= 0:
            return math.nan
        m = self.s1 / self.s0
        return max(self.s2 / self.s0 - m * m, 0.0)

    @property
    def std(self) -> float:
        return math.sqrt(self.var)


class DecayedRegression:
    """Time-weighted least squares y ~ X beta (X includes the intercept column)."""

    __slots__ = ("fitted", "t", "tau", "xtx", "xty")

    def __init__(self, tau: float, features: int) -> None:
        self.tau = tau
        self.t = math.nan
        self.xtx = np.zeros((features, features))
        self.xty = np.zeros(features)
        self.fitted: dict[float, np.ndarray | None] = {}

    def __getstate__(self) -> tuple[object, ...]:
        return (self.tau, self.t, self.xtx, self.xty)

    def __setstate__(self, state: tuple[object, ...]) -> None:
        tau, t, xtx, xty = state
        self.tau, self.t = float(tau), float(t)  # type: ignore[arg-type]
        self.xtx = np.asarray(xtx, dtype=np.float64)
        self.xty = np.asarray(xty, dtype=np.float64)
        self.fitted = {}

    def update(self, ts: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
        """Add rows of `x` (n x features) and `y`; rows with NaN are skipped."""
        ok = np.isfinite(y) & np.isfinite(x).all(axis=1)
        if not ok.any():
            return
        ts, x, y = ts[ok], x[ok], y[ok]
        now = float(ts[-1])
        keep = 1.0 if math.isnan(self.t) else math.exp((self.t - now) / self.tau)
        w = _weights(ts, now, self.tau)
        xw = x * w[:, None]
        self.xtx = self.xtx * keep + xw.T @ x
        self.xty = self.xty * keep + xw.T @ y
        self.t = now
        self.fitted = {}

    @property
    def weight(self) -> float:
        return float(self.xtx[0, 0])

    def coef(self, ridge: float = 1e-3) -> np.ndarray | None:
        """The fitted coefficients, or None before there is enough to fit (the fit is
        kept until the next update)."""
        if ridge in self.fitted:
            return self.fitted[ridge]
        beta = None
        if self.xtx[0, 0] > 0:
            reg = np.eye(len(self.xty)) * ridge
            reg[0, 0] = 0.0
            try:
                beta = np.linalg.solve(self.xtx + reg, self.xty)
            except np.linalg.LinAlgError:
                beta = None
        self.fitted[ridge] = beta
        return beta


class DecayedCells:
    """Time-weighted means and variances of a signal in several cells at once (one
    element per cell, each with its own time constant), e.g. per load band and power
    state; a block updates every cell with a few numpy operations."""

    __slots__ = ("s0", "s1", "s2", "t", "tau")

    def __init__(self, tau: np.ndarray) -> None:
        self.tau = np.asarray(tau, dtype=np.float64)
        self.t = math.nan
        cells = len(self.tau)
        self.s0, self.s1, self.s2 = np.zeros(cells), np.zeros(cells), np.zeros(cells)

    def __getstate__(self) -> tuple[object, ...]:
        return (self.tau, self.t, self.s0, self.s1, self.s2)

    def __setstate__(self, state: tuple[object, ...]) -> None:
        self.tau, self.t, self.s0, self.s1, self.s2 = state  # type: ignore[assignment]

    def update(self, ts: np.ndarray, cell: np.ndarray, x: np.ndarray) -> None:
        """Add samples `x` to their cells (NaN values are skipped); `ts` ascending."""
        ok = np.isfinite(x)
        if not ok.any():
            return
        ts, cell, x = ts[ok], cell[ok], x[ok]
        now = float(ts[-1])
        keep = 1.0 if math.isnan(self.t) else np.exp((self.t - now) / self.tau)
        w = np.exp((ts - now) / self.tau[cell])
        cells = len(self.tau)
        self.s0 = self.s0 * keep + np.bincount(cell, w, cells)
        self.s1 = self.s1 * keep + np.bincount(cell, w * x, cells)
        self.s2 = self.s2 * keep + np.bincount(cell, w * x * x, cells)
        self.t = now

    def weights_at(self, now: float) -> np.ndarray:
        """Each cell's total weight as of `now`."""
        if math.isnan(self.t):
            return np.zeros(len(self.tau))
        return self.s0 * np.exp(min(0.0, self.t - now) / self.tau)

    @property
    def means(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.s0 > 0, self.s1 / self.s0, np.nan)

    @property
    def variances(self) -> np.ndarray:
        mean = self.means
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.s0 > 0, np.maximum(self.s2 / self.s0 - mean * mean, 0.0), np.nan)
