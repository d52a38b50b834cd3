"""NAB backtest: detector profiles scored on the labelled NAB dev corpus in ../shared.

For each profile, every CSV under `<nab>/data/<category>/` is replayed through
`replay_csv` (the code behind `devicecare detect replay`) into a temporary folder, and the
shared scorer (`../shared/tools/nab_score.py`) rates the scores the way NAB does; its
output is printed as is. By default the baseline `hst` and the `default` profile run in
the same invocation and the difference of their standard-profile scores is printed.

    .venv/bin/python bench/nab.py [--profile default --profile hst] [--nab DIR]
    .venv/bin/python bench/nab.py --loco

Also printed: rows scored per second (replay end to end: CSV parsing, detector, writing).
The last line is one JSON object: {"<profile>": standard score, ...}.

`--loco` scores the `default` profile leave-one-category-out, parameters included: for
each category with labelled windows in turn, the parameters (a small grid of round
values around the defaults, `GRID`) and the alert threshold are chosen on the OTHER
categories only (best standard score there), and the category is scored at that fixed
threshold with those parameters. Printed per category, then the mean beside the dev
score (all categories, best threshold, default parameters) and the threshold-only
leave-one-out mean of the default parameters (what `../shared/tools/nab_loco.py`
computes). Last line: {"default": dev, "loco": mean, "loco_threshold_only": mean}.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from detectors.replay.csvfile import replay_csv
from detectors.replay.profiles import ReplayProfile
from detectors.replay.univariate import RecordBreaker

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DEFAULT_PROFILES = ("hst", "default")
GRID: dict[str, tuple[float, ...]] = {
    "slow": (0.002, 0.005, 0.01),
    "season_rate": (0.1, 0.2),
    "refractory": (0.998, 0.999),
}
"""Parameters of `RecordBreaker` the leave-one-out picks from; the defaults are a point."""


def replay_corpus(nab: Path, profile: str | ReplayProfile, out: Path) -> tuple[int, float]:
    """Scores of every corpus file under `out`; returns (rows, seconds)."""
    rows, seconds = 0, 0.0
    for source in sorted((nab / "data").glob("*/*.csv")):
        started = time.perf_counter()
        rows += replay_csv(source, out / source.parent.name / source.name, profile)
        seconds += time.perf_counter() - started
    return rows, seconds


def score(
    nab: Path,
    scores: Path,
    scorer: Path,
    subset: list[str] | None = None,
    threshold: float | None = None,
    *,
    quiet: bool = False,
) -> dict[str, float]:
    """Run the shared scorer (on `subset` of the categories, at a fixed `threshold` if
    given); print its output unless `quiet`; return its normalised scores."""
    with tempfile.TemporaryDirectory(prefix="nab-score-") as tmp:
        report = Path(tmp) / "nab.json"
        argv = [sys.executable, str(scorer), "--nab", str(nab), "--scores", str(scores)]
        if subset:
            argv += ["--subset", ",".join(subset)]
        if threshold is not None:
            argv += ["--threshold", repr(threshold)]
        result = subprocess.run(
            [*argv, "--json", str(report)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode == 0:
            figures = json.loads(report.read_text())
    if not quiet:
        print(result.stdout, end="")
    if result.returncode != 0:
        print(result.stderr, end="", file=sys.stderr)
        raise SystemExit(f"scorer failed with exit code {result.returncode}")
    return figures


def categories(nab: Path) -> tuple[list[str], list[str]]:
    """(every category with data, those with labelled windows), as nab_loco.py sees them."""
    labels = json.loads((nab / "labels" / "combined_windows.json").read_text())
    present = sorted({k.split("/", 1)[0] for k in labels if (nab / "data" / k).exists()})
    scored = sorted({k.split("/", 1)[0] for k, w in labels.items() if w} & set(present))
    return present, scored


def loco(nab: Path, scorer: Path) -> dict[str, float]:
    """Leave-one-category-out with parameters and threshold chosen on the other
    categories; returns the means (and the dev score of the default parameters)."""
    present, scored = categories(nab)
    points = [dict(zip(GRID, values, strict=True)) for values in itertools.product(*GRID.values())]
    defaults = RecordBreaker()
    default_index = next(
        i for i, p in enumerate(points) if all(getattr(defaults, k) == v for k, v in p.items())
    )
    chosen, fixed = [], []
    with tempfile.TemporaryDirectory(prefix="nab-loco-") as tmp:
        folders = []
        for index, point in enumerate(points):
            variant = ReplayProfile(
                f"grid{index}", str(point), functools.partial(RecordBreaker, **point)
            )
            folder = Path(tmp) / f"grid{index}"
            rows, seconds = replay_corpus(nab, variant, folder)
            print(f"== {point}: {rows} rows in {seconds:.1f} s", flush=True)
            folders.append(folder)
        dev = score(nab, folders[default_index], scorer, quiet=True)["standard"]
        for category in scored:
            others = [c for c in present if c != category]
            on_others = [score(nab, f, scorer, others, quiet=True) for f in folders]
            best = max(range(len(points)), key=lambda i: on_others[i]["standard"])
            threshold = on_others[best]["standard_threshold"]
            held = score(nab, folders[best], scorer, [category], threshold, quiet=True)
            chosen.append(held["standard"])
            own = on_others[default_index]["standard_threshold"]
            fixed.append(
                score(nab, folders[default_index], scorer, [category], own, quiet=True)["standard"]
            )
            print(
                f"{category:24s} {held['standard']:7.2f}   (parameters {points[best]}, "
                f"threshold {threshold:.6g}, both chosen on the other categories; "
                f"default parameters, threshold chosen on the others: {fixed[-1]:.2f})",
                flush=True,
            )
    result = {
        "default": dev,
        "loco": round(sum(chosen) / len(chosen), 2),
        "loco_threshold_only": round(sum(fixed) / len(fixed), 2),
    }
    print(
        f"NAB standard, default profile: dev {dev:.1f}; leave-one-category-out "
        f"{result['loco']:.1f} (parameters and threshold chosen without the category), "
        f"{result['loco_threshold_only']:.1f} (default parameters, threshold only)"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--profile",
        action="append",
        help="Profile to score; repeat for several (default: hst and default).",
    )
    parser.add_argument("--nab", type=Path, default=SHARED / "data" / "nab-dev")
    parser.add_argument("--scorer", type=Path, default=SHARED / "tools" / "nab_score.py")
    parser.add_argument(
        "--loco",
        action="store_true",
        help="Leave-one-category-out for the default profile (parameters and threshold).",
    )
    args = parser.parse_args()
    if args.loco:
        print(json.dumps(loco(args.nab, args.scorer)))
        return
    chosen = args.profile or list(DEFAULT_PROFILES)
    standard: dict[str, float] = {}
    for profile in chosen:
        with tempfile.TemporaryDirectory(prefix=f"nab-{profile}-") as tmp:
            rows, seconds = replay_corpus(args.nab, profile, Path(tmp))
            rate = rows / seconds
            print(f"== profile {profile}: {rows} rows in {seconds:.1f} s, {rate:,.0f} rows/s")
            result = score(args.nab, Path(tmp), args.scorer)
        standard[profile] = result["standard"]
    if "default" in standard and "hst" in standard:
        diff = standard["default"] - standard["hst"]
        print(f"default - hst (standard profile): {diff:+.2f}")
    print(json.dumps(standard))


if __name__ == "__main__":
    main()
