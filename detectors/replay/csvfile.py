"""Replay a CSV series through a detector profile, as the live path would score it.

Input: a CSV with a `timestamp` column and one or more value columns (default `value`).
Timestamps may be NAB's `YYYY-MM-DD HH:MM:SS`, any ISO 8601 form, or epoch seconds;
times without a zone are UTC. Each value column gets its own detector from the profile;
each row is scored before the detector learns from it, so a row's score depends only on
the rows up to it. With several value columns the row's score is the maximum of the
columns' scores: the row is as anomalous as its most anomalous metric.

Output: `timestamp,<value columns...>,anomaly_score`, one row per input row, in order, the
timestamp and values copied as written. The file is written next to its destination and
moved into place only when every row was scored, so a bad input leaves no half file.
"""

from __future__ import annotations

import csv
import math
import os
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from detectors.base import Detector
from detectors.replay import profiles
from devicecare.errors import DeviceCareError

TIMESTAMP = "timestamp"
DEFAULT_COLUMNS = ("value",)


class ReplayError(DeviceCareError):
    """A series cannot be replayed: missing file or column, or a bad timestamp or value."""


def parse_timestamp(text: str) -> float:
    """Seconds since the epoch from epoch seconds, NAB's format or ISO 8601 (naive = UTC)."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(seconds):
            return seconds
        raise ValueError(f"not a time: {text!r}")
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a time: {text!r}") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def _open(source: Path) -> TextIO:
    try:
        return source.open(newline="", encoding="utf-8-sig")
    except FileNotFoundError:
        raise ReplayError(f"{source}: no such file") from None
    except OSError as exc:
        raise ReplayError(f"{source}: cannot read: {exc.strerror}") from exc


def _temporary_beside(out: Path) -> tuple[int, Path]:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    except OSError as exc:
        raise ReplayError(f"{out}: cannot write: {exc.strerror}") from exc
    return fd, Path(name)


def replay_csv(
    source: Path, out: Path, profile: str | profiles.ReplayProfile, columns: list[str] | None = None
) -> int:
    """Score every row of `source` with `profile` (a registered name, or a `ReplayProfile` such
    as a parameter variant under test) into `out`; returns the number of rows."""
    chosen = profile if isinstance(profile, profiles.ReplayProfile) else profiles.get(profile)
    names = list(columns) if columns else list(DEFAULT_COLUMNS)
    with _open(source) as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [c for c in (TIMESTAMP, *names) if c not in header]
        if missing:
            have = ", ".join(header) or "no header"
            raise ReplayError(f"{source}: missing column(s) {', '.join(missing)} (has: {have})")
        fd, tmp = _temporary_beside(out)
        try:
            with os.fdopen(fd, "w", newline="", encoding="utf-8") as sink:
                writer = csv.writer(sink, lineterminator="\n")
                writer.writerow([TIMESTAMP, *names, "anomaly_score"])
                count = _score_rows(reader, writer, source, names, chosen.build)
            tmp.replace(out)
        except OSError as exc:
            raise ReplayError(f"{out}: cannot write: {exc.strerror}") from exc
        finally:
            tmp.unlink(missing_ok=True)
    return count


def _score_rows(
    reader: csv.DictReader,
    writer: Any,
    source: Path,
    names: list[str],
    build: Callable[[], Detector],
) -> int:
    """Score and write each row; each value column has its own detector."""
    detectors = [build() for _ in names]
    count = 0
    for row in reader:
        line = reader.line_num
        stamp = row.get(TIMESTAMP) or ""
        try:
            ts = parse_timestamp(stamp)
        except ValueError as exc:
            raise ReplayError(f"{source}, line {line}: bad timestamp: {exc}") from exc
        texts = [row.get(name) or "" for name in names]
        score = 0.0
        for name, text, detector in zip(names, texts, detectors, strict=True):
            x = {"value": _value(text, source, line, name), "ts": ts}
            score = max(score, detector.score_one(x))
            detector.learn_one(x)
        writer.writerow([stamp, *texts, repr(min(1.0, max(0.0, float(score))))])
        count += 1
    return count


def _value(text: str, source: Path, line: int, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ReplayError(f"{source}, line {line}: column {column}: not a number: {text!r}")
    return value
