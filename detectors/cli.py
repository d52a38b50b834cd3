"""`devicecare detect` and `devicecare eval` (implementations imported lazily)."""

from __future__ import annotations

import json
import signal
import statistics
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from devicecare.cli_context import settings_of

if TYPE_CHECKING:
    import psycopg

    from detectors.lab.backtest import Backtest
    from detectors.lab.evaluate import Evaluation
    from detectors.live.verdicts import CohortVerdicts

app = typer.Typer(help="Streaming detectors: live detection, replay and backtests.")
out = Console()


def _partitions(spec: str | None, total: int) -> list[int] | None:
    """'0-3,8' -> [0, 1, 2, 3, 8]; None: all."""
    if not spec:
        return None
    chosen: set[int] = set()
    try:
        for part in spec.split(","):
            lo, _, hi = part.partition("-")
            chosen.update(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise typer.BadParameter(f"{spec!r}: expected numbers and ranges, e.g. 0-3,8") from None
    if not chosen or min(chosen) < 0 or max(chosen) >= total:
        raise typer.BadParameter(f"{spec!r}: partitions are 0-{total - 1}")
    return sorted(chosen)


@app.callback(invoke_without_command=True)
def detect(
    ctx: typer.Context,
    partitions: Annotated[
        str | None,
        typer.Option(help="Partitions this worker owns, e.g. 0-7 (default: all)."),
    ] = None,
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Stop once everything stored is processed.")
    ] = False,
) -> None:
    """Run a detector worker: findings from the stored telemetry, live (Ctrl-C/SIGTERM)."""
    if ctx.invoked_subcommand is not None:
        return
    from detectors.live.sampling import SamplingRaiser
    from detectors.live.service import DetectService
    from devicecare.endpoints import database_url

    settings = settings_of(ctx)
    high_res = settings.detect.high_res
    service = DetectService(
        database_url(settings),
        settings.detect,
        _partitions(partitions, settings.detect.partitions),
        sampling=None if until_idle or not high_res.enabled else SamplingRaiser(settings, high_res),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    progress = service.run(stop, until_idle=until_idle)
    out.print(
        f"processed {progress.batches} batches, {progress.samples} samples; "
        f"{progress.opened} findings opened"
    )


def _when(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r}: expected an ISO 8601 date or time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command()
def replay(
    ctx: typer.Context,
    csv: Annotated[
        Path | None, typer.Option("--csv", help="Series to score: timestamp plus value column(s).")
    ] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="With --csv: where to write the scores.")
    ] = None,
    profile: Annotated[
        str,
        typer.Option(help="With --csv: profile ('devicecare detect profiles' lists them)."),
    ] = "default",
    column: Annotated[
        list[str] | None,
        typer.Option(help="With --csv: value column to score; repeat for several."),
    ] = None,
    device: Annotated[
        str | None, typer.Option(help="Replay this device's stored telemetry instead.")
    ] = None,
    since: Annotated[str | None, typer.Option(help="With --device: from (ISO 8601).")] = None,
    until: Annotated[str | None, typer.Option(help="With --device: to (ISO 8601).")] = None,
) -> None:
    """Score a CSV series, or replay a device's stored telemetry, with the live code."""
    if (csv is None) == (device is None):
        raise typer.BadParameter("give either --csv FILE --out FILE or --device ID")
    if csv is not None:
        if out_file is None:
            raise typer.BadParameter("--csv needs --out FILE")
        _replay_csv(csv, out_file, profile, column)
    else:
        assert device is not None
        _replay_device(ctx, device, since, until)


@app.command()
def profiles() -> None:
    """List the profiles that replay --csv can use."""
    from detectors.replay.profiles import PROFILES

    for profile in PROFILES.values():
        out.print(f"{profile.name:10s} {profile.description}", highlight=False)


def _replay_csv(csv: Path, out_file: Path, profile: str, column: list[str] | None) -> None:
    import time

    from detectors.replay.csvfile import replay_csv

    started = time.perf_counter()
    rows = replay_csv(csv, out_file, profile, column)
    elapsed = time.perf_counter() - started
    out.print(f"scored {rows} rows with profile {profile} in {elapsed:.2f} s -> {out_file}")


def _replay_device(ctx: typer.Context, device: str, since: str | None, until: str | None) -> None:
    import psycopg

    from detectors.live.history import replay_device
    from devicecare.endpoints import database_url

    end = _when(until) if until else datetime.now(UTC)
    start = _when(since) if since else datetime.fromtimestamp(end.timestamp() - 90 * 86400, UTC)
    with psycopg.connect(database_url(settings_of(ctx))) as conn:
        changes, samples = replay_device(conn, device, start, end)
    table = Table(title=f"{device}: {samples} samples, {start:%Y-%m-%d} to {end:%Y-%m-%d}")
    for name in ("time (UTC)", "change", "fault", "severity", "confidence", "reason"):
        table.add_column(name, overflow="fold")
    for change in changes:
        f = change.finding
        moment = f.resolved_at if change.what == "resolved" else f.updated_at
        table.add_row(
            datetime.fromtimestamp(moment or f.detected_at, UTC).strftime("%Y-%m-%d %H:%M"),
            change.what,
            f.kind,
            f.severity.value,
            f"{f.confidence:.2f}",
            f.reason if change.what != "resolved" else "",
        )
    out.print(table if changes else f"{device}: no findings in {samples} samples")


def evaluate(
    ctx: typer.Context,
    truth: Annotated[Path, typer.Option(help="Ground truth from `devicecare simulate --truth`.")],
    json_file: Annotated[
        Path | None, typer.Option("--json", help="Also write the figures as one JSON object.")
    ] = None,
) -> None:
    """Score the stored findings of a simulated run against its ground truth; the
    verdicts on findings follow when there are any."""
    import psycopg

    from detectors.lab.evaluate import Found
    from detectors.lab.evaluate import evaluate as score
    from devicecare.endpoints import database_url

    try:
        doc = json.loads(truth.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise typer.BadParameter(f"{truth}: {exc}") from exc
    ids = [d["device_id"] for d in doc["devices"]]
    with psycopg.connect(database_url(settings_of(ctx))) as conn:
        rows = conn.execute(
            "SELECT device_id, fault_kind, (extract(epoch FROM detected_at) * 1000)::bigint"
            " FROM findings WHERE device_id = ANY(%s)",
            (ids,),
        ).fetchall()
        counted = _stored_verdicts(conn)
    result = score(doc, [Found(*row) for row in rows])
    _print_evaluation(result)
    figures = result.as_json()
    if counted.tallies:
        _print_verdicts(counted, "verdicts on findings")
        figures["feedback"] = _verdict_rows(counted)
    if json_file is not None:
        json_file.write_text(json.dumps(figures, indent=1))


def backtest(
    split: Annotated[
        str,
        typer.Option(
            help="Families to simulate: tuning, held-out, or default (the unwidened fleet)."
        ),
    ] = "held-out",
    devices: Annotated[int, typer.Option(min=1, help="Number of devices.")] = 200,
    days: Annotated[float, typer.Option(min=1, max=365, help="Simulated days.")] = 30.0,
    seed: Annotated[int, typer.Option(help="Seed (kept apart per split).")] = 1,
    faults: Annotated[
        str | None,
        typer.Option(help="Rates per device-year: 'kind=rate,...', 'all=X' scales, 'none'."),
    ] = None,
    json_file: Annotated[
        Path | None, typer.Option("--json", help="Also write the figures as one JSON object.")
    ] = None,
    high_res: Annotated[
        bool,
        typer.Option(
            "--high-res/--no-high-res",
            help="Compare runs without and with high-resolution sampling on suspicion, "
            "both on a world stepped every --fine-step seconds.",
            show_default=False,
        ),
    ] = False,
    fine_step: Annotated[
        int, typer.Option(min=1, help="With --high-res: the raised sampling interval, s.")
    ] = 300,
    feedback: Annotated[
        bool,
        typer.Option(
            "--feedback",
            help="Answer the findings as owners and repairs would (half of the false ones"
            " marked wrong, 60% of the true ones confirmed, 5% wrongly marked wrong) and"
            " let the detectors learn from the answers.",
        ),
    ] = False,
) -> None:
    """Simulate a fleet of a split's families and run the live detectors over it (no
    broker, no database): recall per kind and category, false findings, lead times,
    findings during non-fault situations."""
    from detectors.lab.backtest import FeedbackPlan, resolve

    try:
        chosen = resolve(split, faults)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    common = {
        "devices": devices,
        "days": days,
        "seed": seed,
        "faults": faults,
        "split": chosen,
        "feedback": FeedbackPlan() if feedback else None,
    }
    head = {"split": split.replace("-", "_"), "seed": seed}
    if not high_res:
        figures, result = _backtest(common)
        _print_evaluation(result.evaluation)
    else:
        from detectors.live.suspicion import Policy
        from simulator.run import Plan

        if Plan.interval_s % fine_step:
            raise typer.BadParameter(
                f"must divide the simulator's {Plan.interval_s} s", param_hint="--fine-step"
            )
        policy = Policy(interval_s=fine_step)
        without, _ = _backtest({**common, "fine_s": fine_step})
        figures, result = _backtest({**common, "fine_s": fine_step, "high_res": policy})
        _print_evaluation(result.evaluation)
        _print_comparison(without, figures)
        figures = {"fine_step_s": fine_step, "without_high_res": without, **figures}
    if result.verdicts is not None:
        _print_verdicts(result.verdicts, "answers in the backtest")
    if json_file is not None:
        json_file.write_text(json.dumps({**head, **figures}, indent=1))


def _backtest(kwargs: dict) -> tuple[dict, Backtest]:
    """One backtest run and its figures (with its raises, if it made any)."""
    import time

    from detectors.lab.backtest import raises_summary, run

    started = time.perf_counter()
    result = run(**kwargs)
    figures = {
        "samples": result.samples,
        "wall_s": round(time.perf_counter() - started, 1),
        **result.evaluation.as_json(),
    }
    if result.ledger is not None:
        figures["high_res"] = raises_summary(result)
    if result.verdicts is not None:
        figures["feedback"] = _verdict_rows(result.verdicts)
    return figures, result


def _print_comparison(without: dict, with_: dict) -> None:
    """The figures that high resolution may move, side by side."""
    table = Table(title="high-resolution sampling on suspicion (same world)")
    for name in ("figure", "without", "with"):
        table.add_column(name, justify="right" if name != "figure" else "left")
    rows = [
        ("faults found", "faults_found"),
        ("recall", "recall_overall"),
        ("median lead (days)", "median_lead_days"),
        ("shortest lead (days)", "min_lead_days"),
        ("false findings", "false_findings"),
        ("false per 1,000 device-days", "false_per_1000_device_days"),
        ("samples", "samples"),
    ]
    for label, key in rows:
        table.add_row(label, str(without.get(key)), str(with_.get(key)))
    for category, c in with_["categories"].items():
        before = without["categories"].get(category, {})
        table.add_row(
            f"{category}: median lead (days)",
            str(before.get("median_lead_days")),
            str(c["median_lead_days"]),
        )
    out.print(table)
    raised = with_["high_res"]
    out.print(
        f"raises {raised['raises']} on {raised['devices_raised']} devices "
        f"({raised['raises_on_faulty_devices']} on a device with a fault), "
        f"{raised['raised_device_hours']} device-hours raised; "
        f"suspicions turned down: {raised['turned_down'] or 'none'}"
    )


def feedback(ctx: typer.Context) -> None:
    """The verdicts on stored findings (`finding_feedback`) per detector and cohort:
    marked wrong, confirmed, and the threshold factor the detectors apply there."""
    import psycopg

    from devicecare.endpoints import database_url

    with psycopg.connect(database_url(settings_of(ctx))) as conn:
        counted = _stored_verdicts(conn)
    if not counted.tallies:
        out.print("no verdicts on findings yet")
        return
    _print_verdicts(counted, "verdicts on findings")


def _stored_verdicts(conn: psycopg.Connection) -> CohortVerdicts:
    """Every stored verdict, counted per cohort, fault kind and detector."""
    from detectors.live import store
    from detectors.live.verdicts import CohortVerdicts

    counted = CohortVerdicts()
    for verdict in store.verdicts_since(conn, 0):
        counted.count(verdict)
    return counted


def _verdict_rows(counted: CohortVerdicts) -> list[dict[str, object]]:
    return [
        {
            "detector": detector,
            "fault_kind": kind,
            "model": cohort[0],
            "os_version": cohort[1],
            "wrong": factor.wrong,
            "confirmed": factor.confirmed,
            "factor": round(factor.factor, 2),
        }
        for detector, kind, cohort, factor in counted.summary()
    ]


def _print_verdicts(counted: CohortVerdicts, title: str) -> None:
    """Per detector, fault kind and cohort: wrong, confirmed, the factor in effect."""
    table = Table(title=title)
    for name in ("detector", "fault kind", "cohort", "wrong", "confirmed", "factor"):
        table.add_column(
            name,
            justify="right" if name in ("wrong", "confirmed") else "left",
            overflow="fold",
        )
    for row in _verdict_rows(counted):
        table.add_row(
            str(row["detector"]),
            str(row["fault_kind"]),
            f"{row['model']} / {row['os_version']}",
            str(row["wrong"]),
            str(row["confirmed"]),
            f"x{row['factor']:.2f}",
        )
    out.print(table)


def _print_evaluation(result: Evaluation) -> None:
    """The figures as tables: per fault kind, per category, per non-fault situation."""
    figures = result.as_json()
    table = Table(title=f"{result.devices} devices, {result.days:.0f} days")
    for name in (
        "fault kind",
        "faults",
        "found",
        "recall",
        "any kind of category",
        "precision",
        "median lead (days)",
    ):
        table.add_column(
            name, justify="right" if name != "fault kind" else "left", no_wrap=name == "fault kind"
        )
    for kind, s in sorted(result.kinds.items()):
        table.add_row(
            kind,
            str(s.faults),
            str(s.found),
            _pct(s.recall),
            _pct(s.recall_any_kind),
            _pct(s.precision),
            f"{statistics.median(s.leads_days):.1f}" if s.leads_days else "-",
        )
    out.print(table)
    categories = Table(title="per category")
    for name in ("category", "faults", "recall", "any kind", "median lead", "worst lead"):
        categories.add_column(name, justify="right" if name != "category" else "left")
    for category, c in result.categories().items():
        categories.add_row(
            category,
            str(c["faults"]),
            _pct(c["recall"]),  # type: ignore[arg-type]
            _pct(c["recall_any_kind"]),  # type: ignore[arg-type]
            _days(c["median_lead_days"]),  # type: ignore[arg-type]
            _days(c["worst_lead_days"]),  # type: ignore[arg-type]
        )
    out.print(categories)
    if result.non_fault_windows:
        situations = Table(title="non-fault situations")
        for name in ("situation", "windows", "drew a finding", "findings"):
            situations.add_column(name, justify="right" if name != "situation" else "left")
        for kind, count in sorted(result.non_fault_windows.items()):
            situations.add_row(
                kind,
                str(count),
                str(result.non_fault_windows_hit.get(kind, 0)),
                str(result.non_fault_findings.get(kind, 0)),
            )
        out.print(situations)
    out.print(
        f"findings {figures['findings']}, false {figures['false_findings']} "
        f"({figures['false_per_1000_device_days']} per 1,000 device-days; "
        f"by target {figures['false_by_target'] or 'none'}); "
        f"healthy devices with a false finding {result.healthy_with_false} of "
        f"{result.healthy_devices}; median lead {figures['median_lead_days']} days; "
        f"findings during non-faults: {figures['non_fault_findings'] or 'none'}"
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _days(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
