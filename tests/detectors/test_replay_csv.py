"""CSV replay and the univariate detector profiles: fast, no services."""

from __future__ import annotations

import csv
import math
import pickle
import random
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.app import app
from detectors.replay import profiles
from detectors.replay.csvfile import ReplayError, parse_timestamp, replay_csv

START = 1_400_000_000.0
SPIKE, SHIFT, ROWS = 400, 700, 1000
DEVICECARE = [sys.executable, "-m", "cli"]


def series(seed: int = 7) -> list[float]:
    """Noise around 50, a spike at SPIKE and a level shift up at SHIFT."""
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    values = []
    for i in range(ROWS):
        v = 50.0 + rng.gauss(0.0, 1.0) + (8.0 if i >= SHIFT else 0.0)
        values.append(v + (12.0 if i == SPIKE else 0.0))
    return values


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def nab_stamp(i: int) -> str:
    """NAB's timestamp format, five minutes apart."""
    return datetime.fromtimestamp(START + 300.0 * i, UTC).strftime("%Y-%m-%d %H:%M:%S")


def read_scores(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def synthetic(tmp_path: Path) -> Path:
    rows = [[nab_stamp(i), repr(v)] for i, v in enumerate(series())]
    return write_csv(tmp_path / "series.csv", ["timestamp", "value"], rows)


def test_spike_and_level_shift_score_above_the_noise_around_them(
    synthetic: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scored.csv"
    assert replay_csv(synthetic, out, "default") == ROWS
    rows = read_scores(out)
    scores = [float(r["anomaly_score"]) for r in rows]
    assert all(0.0 <= s <= 1.0 for s in scores)
    noise_before_spike = max(scores[SPIKE - 150 : SPIKE])
    noise_before_shift = max(scores[SHIFT - 150 : SHIFT])
    assert scores[SPIKE] > noise_before_spike
    assert max(scores[SHIFT : SHIFT + 10]) > noise_before_shift


def alerts(name: str, values: list[float], start: int = 0) -> list[int]:
    """Rows from `start` on that score as records (>= 0.5), one point per 15 minutes."""
    detector = profiles.get(name).build()
    found = []
    for i, v in enumerate(values):
        x = {"value": v, "ts": START + 900.0 * i}
        if detector.score_one(x) >= 0.5 and i >= start:
            found.append(i)
        detector.learn_one(x)
    return found


def test_default_profile_stays_quiet_on_drift_cycles_and_noise() -> None:
    """Telemetry that behaves as it always did raises at most a stray alert per 1,000 rows."""
    rng = random.Random(11)  # noqa: S311 - test data, not secrets
    n = 3000
    quiet = {
        "noise": [50.0 + rng.gauss(0.0, 1.0) for _ in range(n)],
        "storage filling": [80.0 - 0.02 * i + rng.gauss(0.0, 0.3) for i in range(n)],
        "daily cycle": [
            30.0 + 5.0 * math.sin(2 * math.pi * i / 96) + rng.gauss(0.0, 0.5) for i in range(n)
        ],
        "battery sawtooth": [100.0 - (i % 200) * 0.4 + rng.gauss(0.0, 0.2) for i in range(n)],
    }
    for label, values in quiet.items():
        assert len(alerts("default", values, start=1000)) <= 2, label


def test_default_profile_alerts_once_at_a_level_shift_and_at_a_spike() -> None:
    rng = random.Random(12)  # noqa: S311 - test data, not secrets
    noise = [50.0 + rng.gauss(0.0, 1.0) for _ in range(3000)]
    shifted = [v + (6.0 if i >= 2000 else 0.0) for i, v in enumerate(noise)]
    spiked = [v + (10.0 if i == 2000 else 0.0) for i, v in enumerate(noise)]
    for values in (shifted, spiked):
        found = alerts("default", values, start=1900)
        assert found[:1] == [2000]
        assert len([i for i in found if i < 2200]) == 1


def test_rows_and_order_are_kept_and_copied_as_written(synthetic: Path, tmp_path: Path) -> None:
    out = tmp_path / "scored.csv"
    replay_csv(synthetic, out, "default")
    with synthetic.open(newline="") as fh:
        given = list(csv.DictReader(fh))
    rows = read_scores(out)
    assert list(rows[0]) == ["timestamp", "value", "anomaly_score"]
    assert [(r["timestamp"], r["value"]) for r in rows] == [
        (g["timestamp"], g["value"]) for g in given
    ]


def test_several_value_columns_score_each_and_combine_with_max(tmp_path: Path) -> None:
    a, b = series(1), series(2)[::-1]
    rows = [[nab_stamp(i), repr(x), repr(y)] for i, (x, y) in enumerate(zip(a, b, strict=True))]
    both = write_csv(tmp_path / "two.csv", ["timestamp", "cpu", "temp"], rows)
    replay_csv(both, tmp_path / "both.csv", "default", ["cpu", "temp"])
    replay_csv(both, tmp_path / "cpu.csv", "default", ["cpu"])
    replay_csv(both, tmp_path / "temp.csv", "default", ["temp"])
    combined = read_scores(tmp_path / "both.csv")
    assert list(combined[0]) == ["timestamp", "cpu", "temp", "anomaly_score"]
    assert len(combined) == ROWS
    singles = zip(
        read_scores(tmp_path / "cpu.csv"), read_scores(tmp_path / "temp.csv"), strict=True
    )
    for row, (cpu, temp) in zip(combined, singles, strict=True):
        expected = max(float(cpu["anomaly_score"]), float(temp["anomaly_score"]))
        assert float(row["anomaly_score"]) == expected


def test_replay_is_deterministic(synthetic: Path, tmp_path: Path) -> None:
    for profile in profiles.PROFILES:
        replay_csv(synthetic, tmp_path / "one.csv", profile)
        replay_csv(synthetic, tmp_path / "two.csv", profile)
        assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "two.csv").read_bytes()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2014-04-01 00:05:00", 1396310700.0),
        ("2014-04-01T00:05:00Z", 1396310700.0),
        ("2014-04-01T02:05:00+02:00", 1396310700.0),
        ("2014-04-01T00:05:00.500", 1396310700.5),
        ("1396310700", 1396310700.0),
        ("1396310700.25", 1396310700.25),
    ],
)
def test_timestamps_in_nab_iso_and_epoch_forms(text: str, expected: float) -> None:
    assert parse_timestamp(text) == expected


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ReplayError, match="no such file"):
        replay_csv(tmp_path / "absent.csv", tmp_path / "out.csv", "default")


def test_missing_columns_are_named(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "s.csv", ["time", "value"], [["1", "2"]])
    with pytest.raises(ReplayError, match=r"missing column.*timestamp"):
        replay_csv(source, tmp_path / "out.csv", "default")
    source = write_csv(tmp_path / "s.csv", ["timestamp", "value"], [["1", "2"]])
    with pytest.raises(ReplayError, match=r"missing column.*battery"):
        replay_csv(source, tmp_path / "out.csv", "default", ["value", "battery"])


def test_bad_timestamp_names_the_line(tmp_path: Path) -> None:
    rows = [["2014-04-01 00:00:00", "1"], ["yesterday", "2"]]
    source = write_csv(tmp_path / "s.csv", ["timestamp", "value"], rows)
    with pytest.raises(ReplayError, match=r"line 3: bad timestamp.*yesterday"):
        replay_csv(source, tmp_path / "out.csv", "default")
    assert not (tmp_path / "out.csv").exists()
    assert list(tmp_path.iterdir()) == [source]


@pytest.mark.parametrize("bad", ["", "abc", "nan", "inf"])
def test_bad_value_names_line_and_column(tmp_path: Path, bad: str) -> None:
    rows = [
        ["2014-04-01 00:00:00", "1"],
        ["2014-04-01 00:05:00", "2"],
        ["2014-04-01 00:10:00", bad],
    ]
    source = write_csv(tmp_path / "s.csv", ["timestamp", "value"], rows)
    with pytest.raises(ReplayError, match="line 4: column value: not a number"):
        replay_csv(source, tmp_path / "out.csv", "default")


def test_unknown_profile_lists_the_known_ones(synthetic: Path, tmp_path: Path) -> None:
    with pytest.raises(profiles.UnknownProfileError, match=r"known: .*default"):
        replay_csv(synthetic, tmp_path / "out.csv", "nope")


def run(detector: object, values: list[float]) -> list[float]:
    scores = []
    for i, v in enumerate(values):
        x = {"value": v, "ts": START + 300.0 * i}
        scores.append(detector.score_one(x))  # type: ignore[attr-defined]
        detector.learn_one(x)  # type: ignore[attr-defined]
    return scores


@pytest.mark.parametrize("name", sorted(profiles.PROFILES))
def test_profile_conformance_clone_pickle_range(name: str) -> None:
    """river-style checks over every registered profile's detector."""
    values = series(3)
    detector = profiles.get(name).build()
    first = run(detector, values[:500])
    assert all(isinstance(s, float) and 0.0 <= s <= 1.0 and not math.isnan(s) for s in first)

    fresh = detector.clone()
    assert type(fresh) is type(detector)
    assert fresh._get_params() == detector._get_params()
    assert run(fresh, values[:500]) == first

    restored = pickle.loads(pickle.dumps(detector))
    assert run(restored, values[500:]) == run(detector, values[500:])


@pytest.mark.parametrize("name", sorted(profiles.PROFILES))
def test_profile_handles_a_flat_line_and_a_single_point(name: str) -> None:
    detector = profiles.get(name).build()
    scores = run(detector, [45.0] * 400 + [46.0] + [45.0] * 50)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert 0.0 <= profiles.get(name).build().score_one({"value": 1.0, "ts": START}) <= 1.0


@pytest.mark.parametrize("name", sorted(profiles.PROFILES))
def test_profile_skips_points_without_a_finite_value(name: str) -> None:
    values = series(4)[:400]
    clean = profiles.get(name).build()
    dirty = profiles.get(name).build()
    expected = run(clean, values)
    got = []
    for i, v in enumerate(values):
        x = {"value": v, "ts": START + 300.0 * i}
        for bad in ({"ts": x["ts"]}, {"value": math.nan, "ts": x["ts"]}, {"value": None}):
            assert dirty.score_one(bad) == 0.0
            dirty.learn_one(bad)
        got.append(dirty.score_one(x))
        dirty.learn_one(x)
    assert got == expected


def test_every_profile_has_a_description() -> None:
    assert {"default", "hst"} <= set(profiles.PROFILES)
    for profile in profiles.PROFILES.values():
        assert profile.description.strip()
        assert "\n" not in profile.description


def test_cli_replay_writes_scores(synthetic: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli.csv"
    result = CliRunner().invoke(
        app, ["detect", "replay", "--csv", str(synthetic), "--out", str(out), "--profile", "hst"]
    )
    assert result.exit_code == 0, result.output
    assert f"scored {ROWS} rows" in result.output
    replay_csv(synthetic, tmp_path / "direct.csv", "hst")
    assert out.read_bytes() == (tmp_path / "direct.csv").read_bytes()


def test_cli_replay_scores_several_columns_and_lists_profiles(tmp_path: Path) -> None:
    pairs = enumerate(zip(series(1), series(2), strict=True))
    rows = [[nab_stamp(i), repr(x), repr(y)] for i, (x, y) in pairs]
    source = write_csv(tmp_path / "two.csv", ["timestamp", "cpu", "temp"], rows)
    out = tmp_path / "two-scored.csv"
    args = ["detect", "replay", "--csv", str(source), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--column", "cpu", "--column", "temp"])
    assert result.exit_code == 0, result.output
    assert list(read_scores(out)[0]) == ["timestamp", "cpu", "temp", "anomaly_score"]
    listed = CliRunner().invoke(app, ["detect", "profiles"])
    assert listed.exit_code == 0, listed.output
    for name in profiles.PROFILES:
        assert name in listed.output


def test_unwritable_output_is_a_clear_error(synthetic: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ReplayError, match="cannot write"):
        replay_csv(synthetic, blocker / "out.csv", "default")


def test_a_byte_order_mark_is_not_part_of_the_header(tmp_path: Path) -> None:
    source = tmp_path / "bom.csv"
    source.write_text("\ufefftimestamp,value\n2014-04-01 00:00:00,1\n", encoding="utf-8")
    assert replay_csv(source, tmp_path / "out.csv", "default") == 1


def test_cli_replay_reports_errors_without_a_traceback(tmp_path: Path) -> None:
    paths = ["--csv", str(tmp_path / "absent.csv"), "--out", str(tmp_path / "o.csv")]
    result = subprocess.run(
        [*DEVICECARE, "detect", "replay", *paths],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "no such file" in result.stderr
    assert "Traceback" not in result.stderr
