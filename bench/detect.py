"""Detector throughput and memory per device, beside river's HalfSpaceTrees, one run.

The simulated fleet's telemetry is generated first (not timed), then:

- DeviceCare: every device's `DeviceState` (all rules, the river anomaly model, the
  finding trackers) processes the stream in upload blocks, in this one process (one
  core); samples per second, and the state per device as a checkpoint stores it
  (pickled) and as it lives in memory (tracemalloc);
- baseline: one default river `HalfSpaceTrees` per device (behind river's
  `MinMaxScaler`, which HST needs) scoring and learning every sample of the same stream,
  on a subset of the devices (it is slow); same figures;
- the choice of the hourly anomaly model: how well river's HST and DeviceCare's
  `ScaledDeviation` (both per device, same hourly features) separate the hours of faulty
  devices (after their onset) from those of healthy ones, as ROC AUC.

    .venv/bin/python bench/detect.py [--devices 1000] [--days 30]

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import pickle
import statistics
import time
import tracemalloc

import numpy as np
from river import anomaly, compose, preprocessing

from detectors.base import Guarded
from detectors.block import METRICS, Block
from detectors.lab.backtest import periods as upload_periods
from detectors.live.anomaly import ScaledDeviation, hourly_features
from detectors.live.cohorts import Cohorts
from detectors.live.device import DeviceState
from simulator.fleet import Fleet
from simulator.run import Plan, start_of

NOW_MS = 1_790_000_000_000
DAILY = 24.0


def generate(devices: int, days: float, upload_hours: float, faults: str | None) -> tuple:
    plan = Plan(devices, days, 1, faults, upload_hours=upload_hours)
    fleet = Fleet(devices, seed=1, start_ms=start_of(plan, NOW_MS), days=days, faults=faults)
    return fleet, list(upload_periods(plan, fleet))


def run_devicecare(fleet: Fleet, periods: list) -> dict[str, float]:
    states = [DeviceState(d) for d in fleet.ids]
    for state, model, version in zip(states, fleet.models, fleet.os_versions, strict=True):
        state.model, state.os_version = model.name, version
    cohorts = Cohorts()
    samples = 0
    started = time.process_time()
    for pairs in periods:
        for index, block in pairs:
            states[index].process(block, cohorts)
            samples += len(block)
    cpu = time.process_time() - started
    pickled = [len(pickle.dumps(s, protocol=pickle.HIGHEST_PROTOCOL)) for s in states]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    copies = [pickle.loads(pickle.dumps(s)) for s in states]  # noqa: S301 - our own states
    live = (tracemalloc.get_traced_memory()[0] - before) / len(copies)
    tracemalloc.stop()
    return {
        "samples": samples,
        "samples_per_s_per_core": samples / cpu,
        "bytes_per_device": statistics.median(pickled),
        "max_bytes_per_device": max(pickled),
        "live_bytes_per_device": live,
    }


def hst_model() -> compose.Pipeline:
    return preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees(seed=1)


def run_baseline(fleet: Fleet, periods: list, devices: int) -> dict[str, float]:
    models = [hst_model() for _ in range(devices)]
    samples = 0
    started = time.process_time()
    for pairs in periods:
        for index, block in pairs[:devices]:
            model = models[index]
            rows = np.column_stack([block.col(m) for m in METRICS])
            for row in rows.tolist():
                x = {m: v for m, v in zip(METRICS, row, strict=True) if not math.isnan(v)}
                model.score_one(x)
                model.learn_one(x)
                samples += 1
    cpu = time.process_time() - started
    pickled = [len(pickle.dumps(m)) for m in models]
    return {
        "samples": samples,
        "samples_per_s_per_core": samples / cpu,
        "bytes_per_device": statistics.median(pickled),
    }


def auc(positive: list[float], negative: list[float]) -> float:
    """Probability that a random positive outscores a random negative (ties: half)."""
    scores = np.concatenate([positive, negative])
    ranks = np.argsort(np.argsort(scores, kind="stable"), kind="stable") + 1.0
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    ranks = (sums / counts)[inverse]
    n_pos = len(positive)
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * len(negative)))


def compare_hourly(fleet: Fleet, periods: list) -> dict[str, float]:
    """Hourly anomaly models, scored on hours of devices with and without a fault."""
    onset = {f.device: f.half_ms / 1000 for f in fleet.faults}
    """A faulty device's hours count from its fault's half strength."""
    makers = {
        "scaled_deviation": lambda: Guarded(ScaledDeviation(), 0.9),
        "hst": hst_model,
    }
    warm = fleet.start_ms / 1000 + 86_400
    result = {}
    for name, make in makers.items():
        models = [make() for _ in range(fleet.n)]
        prev: list[tuple[float, float, float]] = [(np.nan, np.nan, np.nan)] * fleet.n
        positive, negative = [], []
        for pairs in periods:
            for index, block in pairs:
                hours = hourly_features(block, prev[index])
                used = block.col("storage_total_bytes") - block.col("storage_free_bytes")
                prev[index] = (
                    float(block.ts[-1]),
                    float(block.col("battery_pct")[-1]),
                    float(used[-1]),
                )
                model = models[index]
                for hour, x in zip(_hour_starts(block), hours, strict=True):
                    if name == "hst":
                        score = model.score_one(x)
                        model.learn_one(x)
                    else:
                        score = model.process_one(x)
                    if index in onset:
                        if hour >= onset[index]:
                            positive.append(score)
                    elif hour > warm:
                        negative.append(score)
        result[name] = auc(positive, negative)
    return result


def _hour_starts(block: Block) -> list[float]:
    hours = np.floor(block.ts / 3600)
    starts = np.flatnonzero(np.concatenate(([True], np.diff(hours) > 0)))
    return block.ts[starts].tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--baseline-devices", type=int, default=50)
    args = parser.parse_args()
    figures: dict[str, object] = {"devices": args.devices, "days": args.days}
    for upload_hours in (DAILY, 6.0):
        t = time.perf_counter()
        fleet, periods = generate(args.devices, args.days, upload_hours, None)
        print(
            f"generated {args.devices} devices x {args.days:g} days "
            f"({upload_hours:g} h uploads) in {time.perf_counter() - t:.0f} s"
        )
        ours = run_devicecare(fleet, periods)
        print(
            f"DeviceCare, {upload_hours:g} h blocks: {ours['samples_per_s_per_core']:,.0f}"
            f" samples/s per core; state {ours['bytes_per_device']:,.0f} B pickled"
            f" (max {ours['max_bytes_per_device']:,.0f}),"
            f" {ours['live_bytes_per_device']:,.0f} B live"
        )
        figures[f"blocks_{upload_hours:g}h"] = ours
        if upload_hours == DAILY:
            base = run_baseline(fleet, periods, args.baseline_devices)
            print(
                f"baseline HST per device: {base['samples_per_s_per_core']:,.0f} samples/s per"
                f" core; {base['bytes_per_device']:,.0f} B pickled"
            )
            figures["baseline"] = base
    fleet, periods = generate(200, 30, DAILY, "all=5")
    separation = compare_hourly(fleet, periods)
    print(
        "hourly anomaly models, ROC AUC faulty vs healthy device-hours: "
        + ", ".join(f"{k} {v:.3f}" for k, v in separation.items())
    )
    daily, base = figures["blocks_24h"], figures["baseline"]
    summary = {
        "samples_per_s_per_core": round(daily["samples_per_s_per_core"]),
        "samples_per_s_per_core_6h_blocks": round(figures["blocks_6h"]["samples_per_s_per_core"]),
        "baseline_samples_per_s_per_core": round(base["samples_per_s_per_core"]),
        "speed_ratio": round(daily["samples_per_s_per_core"] / base["samples_per_s_per_core"], 1),
        "bytes_per_device": round(daily["bytes_per_device"]),
        "live_bytes_per_device": round(daily["live_bytes_per_device"]),
        "baseline_bytes_per_device": round(base["bytes_per_device"]),
        "memory_ratio": round(base["bytes_per_device"] / daily["bytes_per_device"], 1),
        "auc_scaled_deviation": round(separation["scaled_deviation"], 3),
        "auc_hst": round(separation["hst"], 3),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
