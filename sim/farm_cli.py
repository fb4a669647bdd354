"""The `plantctl sim --farm` command: plan the farm, write its plant file, run it until Ctrl-C."""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass
from pathlib import Path

import typer

from sim.farm import FarmProtocol, describe, farm_shelf, plan_farm, start_farm, tag_count, write_plant_file


@dataclass(frozen=True, slots=True)
class FarmOptions:
    plcs: int
    tags: int
    protocol: FarmProtocol
    plant_out: Path
    base_port: int = 0
    processes: int = 2
    alarm_share: float = 0.2
    seed: int = 42
    state_dir: Path | None = None  # where the OPC UA shelf is cached


def run_farm(opts: FarmOptions) -> int:
    """Exit status: 0 after Ctrl-C/SIGTERM, 2 when the farm cannot start or its plant file cannot be written."""
    try:
        plcs = plan_farm(opts.plcs, opts.tags, opts.protocol, base_port=opts.base_port)
        write_plant_file(opts.plant_out, plcs, alarm_share=opts.alarm_share)
    except (ValueError, OSError) as exc:
        typer.echo(f"plantctl sim --farm: {exc}", err=True)
        return 2
    shelf = farm_shelf(opts.state_dir)
    try:
        farm = start_farm(plcs, processes=opts.processes, shelf=shelf, seed=opts.seed)
    except RuntimeError as exc:
        typer.echo(f"plantctl sim --farm: {exc}", err=True)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        typer.echo(f"farm of {len(plcs)} PLCs, {tag_count(plcs):,} tags, every tag new each second; "
                   f"started in {farm.start_s:.1f} s by {len(farm.processes)} processes (Ctrl-C stops)")
        for line in describe(plcs):
            typer.echo(line)
        typer.echo(f"  plant file {opts.plant_out}   (plantctl run --config {opts.plant_out})", color=False)
        while not stop.is_set() and all(p.is_alive() for p in farm.processes):
            stop.wait(0.5)
        if not stop.is_set():
            typer.echo("plantctl sim --farm: a worker process ended; stopping the farm", err=True)
            return 2
        return 0
    finally:
        typer.echo("stopping…")
        farm.stop()
