"""Parameter variants of a replay profile, as `bench/nab.py --loco` scores them."""

from __future__ import annotations

import csv
import functools
import math
from pathlib import Path

from detectors.replay.csvfile import replay_csv
from detectors.replay.profiles import ReplayProfile
from detectors.replay.univariate import RecordBreaker


def series(path: Path) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["timestamp", "value"])
        for i in range(600):
            value = 10 + math.sin(i / 12) + (25 if i == 450 else 0)
            writer.writerow([f"{1_790_000_000 + 300 * i}", f"{value:.4f}"])
    return path


def scores(path: Path) -> list[float]:
    with path.open() as fh:
        return [float(row["anomaly_score"]) for row in csv.DictReader(fh)]


def test_a_profile_object_replays_like_its_registered_name(tmp_path: Path) -> None:
    source = series(tmp_path / "in.csv")
    replay_csv(source, tmp_path / "named.csv", "default")
    same = ReplayProfile("same", "defaults", RecordBreaker)
    replay_csv(source, tmp_path / "object.csv", same)
    assert scores(tmp_path / "named.csv") == scores(tmp_path / "object.csv")
    other = ReplayProfile(
        "slow", "variant", functools.partial(RecordBreaker, slow=0.02, refractory=0.99)
    )
    assert replay_csv(source, tmp_path / "variant.csv", other) == 600
    varied = scores(tmp_path / "variant.csv")
    assert varied != scores(tmp_path / "named.csv")
    assert max(range(600), key=varied.__getitem__) == 450, "the spike still scores highest"
