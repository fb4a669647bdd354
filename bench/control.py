"""Benchmark of the pH loop: compensated vs fixed-gain PID on the shipped scenarios, and scheduler jitter.

The compensated controller is PHC-101 as shipped in examples/plant.yaml. The fixed-gain baseline is
the same loop with `compensation: none` (same feedforward, split range, interlocks), its PI gains
proposed by SIMC (plantctl/tools/tuning.py) from a step test at pH 7 on the simulator, then run at the
loop's setpoint. Figures are on the simulator's true pH; `iae_*_pv_good` counts only the time the
PV read GOOD (the upset day's failed and drifting electrode misleads both controllers alike). The
jitter figures time drift-free asyncio schedules at 1 s and 100 ms while a CPU + file-IO load runs
in a thread beside them.

    .venv/bin/python bench/control.py [--quick]      # last line of stdout: one JSON object
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from control.scheduler import Tick, run_periodic
from plantctl.config.models import PlantConfig
from plantctl.plantfile import load_plant
from plantctl.tools.closed_loop import loop_config, run_loop_on_scenario
from plantctl.tools.tuning import tune
from sim.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[1]
PLANT = ROOT / "examples" / "plant.yaml"
SCENARIOS = {"normal-day": ROOT / "examples/scenarios/normal-day.yaml",
             "upset-day": ROOT / "examples/scenarios/upset-day.yaml"}


def _load(stop: threading.Event) -> None:
    """CPU and file-IO work beside the event loop (a stand-in for acquisition and the historian)."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "spool.bin")
        block = os.urandom(256 * 1024)
        while not stop.is_set():
            sum(i * i for i in range(20_000))
            with open(path, "ab") as f:
                f.write(block)
                f.flush()
                os.fsync(f.fileno())
            if os.path.getsize(path) > 16 * 1024 * 1024:
                os.truncate(path, 0)


async def _jitter(period_s: float, n: int) -> tuple[float, int]:
    lateness: list[float] = []
    stop = asyncio.Event()

    async def side_work() -> None:  # other coroutines on the same loop (JSON encoding of batches)
        while not stop.is_set():
            json.dumps([{"tag": f"T{i}", "v": i * 0.1} for i in range(2000)])
            await asyncio.sleep(0.003)

    def work(tick: Tick) -> None:
        lateness.append(tick.lateness_s)
        if len(lateness) >= n:
            stop.set()

    side = asyncio.create_task(side_work())
    sched = await run_periodic(period_s, work, stop)
    await side
    return float(np.percentile(np.array(lateness) * 1000.0, 99)), sched.missed_total


def jitter(period_s: float, n: int) -> tuple[float, int]:
    stop = threading.Event()
    th = threading.Thread(target=_load, args=(stop,), daemon=True)
    th.start()
    try:
        return asyncio.run(_jitter(period_s, n))
    finally:
        stop.set()
        th.join()


def _with_seed(sc: Scenario, seed: int | None) -> Scenario:
    return sc if seed is None else Scenario(sc.name, sc.description, sc.duration_s, seed, sc.events)


def ablations(plant: PlantConfig) -> dict[str, dict[str, Any]]:
    """The shipped PHC-101 with one of its choices undone each."""
    cfg = loop_config(plant, "PHC-101")
    assert cfg.feedforward is not None and cfg.split_range is not None
    ff = cfg.feedforward.model_dump()
    return {
        "without_ff_adapt": {"feedforward": {**ff, "adapt": None}},
        "without_influent_titration": {"feedforward": {**ff, "influent_titration": None}},
        "at_setpoint_7": {"setpoint": 7.0},
        "rate_limit_2": {"output_rate_per_s": 2.0},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="shorter runs: whole bench under 60 s")
    ap.add_argument("--seed", type=int, default=None,
                    help="run the scenarios with this seed instead of theirs (the margins' robustness)")
    args = ap.parse_args()
    scenarios = {name: _with_seed(load_scenario(path), args.seed) for name, path in SCENARIOS.items()}
    t_start = time.perf_counter()
    durations = {"normal-day": 3 * 3600.0, "upset-day": 10.25 * 3600.0} if args.quick else {}  # upset: to past the slug

    fixed_tuning = tune(PLANT, "PHC-101", step_pct=0.2, compensation="none", setpoint=7.0)  # tuned at pH 7
    print(fixed_tuning)
    fixed = {"compensation": "none", "kp": fixed_tuning.proposal.kc, "ki": fixed_tuning.proposal.ki, "kd": 0.0}
    out: dict[str, float] = {}
    totals = {"compensated": [0.0, 0.0, 0.0, 0.0], "fixed": [0.0, 0.0, 0.0, 0.0]}  # iae, L, out s, iae PV good
    for name, sc in scenarios.items():
        for label, over in (("compensated", None), ("fixed", fixed)):
            r = run_loop_on_scenario(PLANT, sc, overrides=over, duration_s=durations.get(name),
                                     record_every_s=5.0)
            print(f"{label:<12}", r.line())
            f = r.figures
            totals[label][0] += f["iae_ph_s"]
            totals[label][1] += f["naoh_l"] + f["h2so4_l"]
            totals[label][2] += f["time_out_of_band_s_sensor_ok"]
            totals[label][3] += f["iae_ph_s_pv_good"]
            key = name.replace("-", "_")
            out[f"{key}_iae_{label}"] = round(f["iae_ph_s"], 1)
            out[f"{key}_out_of_band_s_{label}"] = round(f["time_out_of_band_s_sensor_ok"], 1)
            out[f"{key}_max_dev_ph_{label}"] = round(f["max_deviation_ph"], 3)
            out[f"{key}_reagent_l_{label}"] = round(f["naoh_l"] + f["h2so4_l"], 2)
    if not args.quick:  # the other compensation, same gains: for the engineer choosing between them
        r = run_loop_on_scenario(PLANT, scenarios["upset-day"], overrides={"compensation": "gain_schedule"},
                                 record_every_s=5.0)
        print(f"{'gain sched.':<12}", r.line())
        out["upset_day_iae_gain_schedule"] = round(r.figures["iae_ph_s"], 1)
        out["upset_day_out_of_band_s_gain_schedule"] = round(r.figures["time_out_of_band_s_sensor_ok"], 1)
        for key, over in ablations(load_plant(PLANT)).items():  # what each part of the shipped loop buys
            r = run_loop_on_scenario(PLANT, scenarios["upset-day"], overrides=over, record_every_s=5.0)
            print(f"{key:<28}", r.line())
            out[f"upset_day_out_of_band_s_{key}"] = round(r.figures["time_out_of_band_s_sensor_ok"], 1)
    out["iae_compensated"] = round(totals["compensated"][0], 1)
    out["iae_fixed"] = round(totals["fixed"][0], 1)
    out["iae_ratio"] = round(totals["compensated"][0] / totals["fixed"][0], 4)
    out["iae_compensated_pv_good"] = round(totals["compensated"][3], 1)
    out["iae_fixed_pv_good"] = round(totals["fixed"][3], 1)
    out["iae_ratio_pv_good"] = round(totals["compensated"][3] / totals["fixed"][3], 4)
    out["reagent_ratio"] = round(totals["compensated"][1] / totals["fixed"][1], 4)
    out["time_out_of_band_s_compensated"] = round(totals["compensated"][2], 1)
    out["time_out_of_band_s_fixed"] = round(totals["fixed"][2], 1)
    out["fixed_kp_pct_per_ph"] = round(fixed_tuning.proposal.kc, 4)
    out["fixed_ki_pct_per_ph_s"] = round(fixed_tuning.proposal.ki, 6)

    j1, m1 = jitter(1.0, 6 if args.quick else 60)
    j100, m100 = jitter(0.1, 60 if args.quick else 600)
    out["jitter_p99_ms_1s"] = round(j1, 3)
    out["jitter_p99_ms_100ms"] = round(j100, 3)
    out["missed_periods_1s"] = m1
    out["missed_periods_100ms"] = m100
    out["quick"] = args.quick
    out["seed"] = args.seed
    out["wall_s"] = round(time.perf_counter() - t_start, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
