"""`devicecare simulate`: a fleet on an accelerated clock, published as its devices."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from devicecare.cli_context import settings_of


def simulate(
    ctx: typer.Context,
    devices: Annotated[int, typer.Option(min=1, help="Number of devices.")] = 100,
    days: Annotated[
        float, typer.Option(min=0.01, max=85, help="Simulated days, ending now.")
    ] = 7.0,
    speed: Annotated[
        str, typer.Option(help="Simulated seconds per wall second, or 'max'.")
    ] = "max",
    seed: Annotated[int, typer.Option(help="Same seed, same fleet and output.")] = 1,
    faults: Annotated[
        str | None,
        typer.Option(help="Rates per device-year: 'kind=rate,...', 'all=X' scales, 'none'."),
    ] = None,
    truth: Annotated[Path | None, typer.Option(help="Write the ground truth (JSON) here.")] = None,
    summary_json: Annotated[
        Path | None, typer.Option("--summary-json", help="Write the run's figures here.")
    ] = None,
    interval: Annotated[int, typer.Option(min=10, help="Seconds between samples.")] = 900,
    upload_hours: Annotated[
        float, typer.Option(min=0.01, help="Simulated hours between a device's uploads.")
    ] = 6.0,
    connections: Annotated[
        int, typer.Option(min=1, max=256, help="MQTT sessions at once (threads).")
    ] = 2,
    split: Annotated[
        str | None,
        typer.Option(help="Widened fleet of the tuning or held-out families (docs/simulator.md)."),
    ] = None,
) -> None:
    """Simulate a fleet with physics, injected faults and look-alike non-faults."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from devicecare.endpoints import mqtt_endpoint
    from devicecare.stack import local
    from devicecare.stack.mosquitto import ServiceAccount
    from simulator.families import split as split_named
    from simulator.faults import parse_spec
    from simulator.fleet import Fleet
    from simulator.run import Plan, start_of
    from simulator.run import simulate as run
    from simulator.sessions import SessionPool

    try:
        parse_spec(faults)
        families = None if split is None else split_named(split)
        pace = None if speed == "max" else float(speed)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    settings = settings_of(ctx)
    plan = Plan(devices, days, seed, faults, interval, upload_hours, pace)
    fleet = Fleet(
        devices,
        seed=seed,
        start_ms=start_of(plan, int(time.time() * 1000)),
        days=days,
        faults=faults,
        split=families,
    )
    passwords = local.provision_devices(settings, fleet.ids)
    broker = mqtt_endpoint(settings, ServiceAccount.MONITOR)
    pool = SessionPool(broker.host, broker.port, connections)
    started = time.perf_counter()
    with Progress(
        TextColumn(f"{devices} devices"),
        BarColumn(),
        TextColumn("{task.fields[rate]:>9} samples/s"),
        TextColumn("{task.fields[sim]}"),
        TimeElapsedColumn(),
    ) as bar:
        task = bar.add_task("simulate", total=plan.steps, rate="-", sim="")

        def progress(step: int, samples: int, sim_ms: int) -> None:
            rate = samples / max(time.perf_counter() - started, 1e-6)
            when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(sim_ms / 1000))
            bar.update(task, completed=step, rate=f"{rate:,.0f}", sim=when)

        outcome = run(plan, fleet, passwords, pool.submit, progress)
        counters = pool.close()
    wall = time.perf_counter() - started
    figures = {
        "devices": devices,
        "days": days,
        "seed": seed,
        "samples": counters.samples,
        "events": outcome.events,
        "faults": sum(outcome.faults.values()),
        "faults_by_kind": outcome.faults,
        "non_faults": len(fleet.windows),
        "uploads": counters.uploads,
        "messages": counters.messages,
        "unheard_retries": counters.unheard_retries,
        "failed_uploads": len(counters.failures),
        "wall_s": round(wall, 2),
        "samples_per_s": round(counters.samples / wall),
    }
    if truth is not None:
        doc = {
            "seed": seed,
            "start_ms": fleet.start_ms,
            "end_ms": outcome.sim_end_ms,
            "interval_s": interval,
            **fleet.truth(),
        }
        truth.write_text(json.dumps(doc, indent=1))
    if summary_json is not None:
        summary_json.write_text(json.dumps(figures))
    print(json.dumps(figures))
    if counters.failures:
        raise typer.Exit(1)
