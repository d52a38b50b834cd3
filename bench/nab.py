"""NAB backtest: detector profiles scored on the labelled NAB dev corpus in ../shared.

For each profile, every CSV under `<nab>/data/<category>/` is replayed through
`replay_csv` (the code behind `devicecare detect replay`) into a temporary folder, and the
shared scorer (`../shared/tools/nab_score.py`) rates the scores the way NAB does; its
output is printed as is. By default the baseline `hst` and the `default` profile run in
the same invocation and the difference of their standard-profile scores is printed.

    .venv/bin/python bench/nab.py [--profile default --profile hst] [--nab DIR]

Also printed: rows scored per second (replay end to end: CSV parsing, detector, writing).
The last line is one JSON object: {"<profile>": standard score, ...}.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from detectors.replay.csvfile import replay_csv

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DEFAULT_PROFILES = ("hst", "default")


def replay_corpus(nab: Path, profile: str, out: Path) -> tuple[int, float]:
    """Scores of every corpus file under `out`; returns (rows, seconds)."""
    rows, seconds = 0, 0.0
    for source in sorted((nab / "data").glob("*/*.csv")):
        started = time.perf_counter()
        rows += replay_csv(source, out / source.parent.name / source.name, profile)
        seconds += time.perf_counter() - started
    return rows, seconds


def score(nab: Path, scores: Path, scorer: Path) -> dict[str, float]:
    """Run the shared scorer; print its output; return its normalised scores."""
    report = scores / "nab.json"
    argv = [sys.executable, str(scorer), "--nab", str(nab), "--scores", str(scores)]
    result = subprocess.run(
        [*argv, "--json", str(report)],
        capture_output=True,
        text=True,
        check=False,
    )
    print(result.stdout, end="")
    if result.returncode != 0:
        print(result.stderr, end="", file=sys.stderr)
        raise SystemExit(f"scorer failed with exit code {result.returncode}")
    return json.loads(report.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--profile",
        action="append",
        help="Profile to score; repeat for several (default: hst and default).",
    )
    parser.add_argument("--nab", type=Path, default=SHARED / "data" / "nab-dev")
    parser.add_argument("--scorer", type=Path, default=SHARED / "tools" / "nab_score.py")
    args = parser.parse_args()
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
