"""Benchmark of the pH loop: compensated vs fixed-gain PID on the shipped scenarios, and scheduler jitter.

The compensated controller is PHC-101 as shipped in examples/plant.yaml, its PV the middle of three
T-101 electrodes (AIT-101/104/105, control.voting). The fixed-gain baseline (on AIT-101 alone) is
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
from control.voting import VoteEventKind
from plantctl.config.models import PlantConfig
from plantctl.plantfile import load_plant
from plantctl.tools.closed_loop import EPOCH, ClosedLoopResult, loop_config, run_loop_on_scenario
from plantctl.tools.tuning import tune
from sim.params import SimParams, load_sim_params
from sim.scenario import CommsDropEvent, Event, InfluentEvent, Scenario, SensorEvent, ShockEvent, load_scenario

ROOT = Path(__file__).resolve().parents[1]
PLANT = ROOT / "examples" / "plant.yaml"
SC = ROOT / "examples" / "scenarios"
# name: (scenario file, reagent-line dead time s or None for the plant file's, quick window start-end h)
SCENARIOS: dict[str, tuple[Path, float | None, tuple[float, float]]] = {
    "normal-day": (SC / "normal-day.yaml", None, (0.0, 1.5)),
    "upset-day": (SC / "upset-day.yaml", None, (9.0, 10.5)),
    "poorly-buffered-day": (SC / "poorly-buffered-day.yaml", None, (13.0, 14.5)),
    "metal-laden-day": (SC / "metal-laden-day.yaml", None, (9.0, 10.5)),
    "alkaline-spill-peak": (SC / "alkaline-spill-peak.yaml", None, (13.5, 15.0)),
    "pump-half-capacity": (SC / "pump-half-capacity.yaml", None, (14.0, 15.5)),
    "frozen-electrode": (SC / "frozen-electrode.yaml", None, (8.5, 11.0)),
    "dead-time-60s": (SC / "upset-day.yaml", 60.0, (9.0, 10.5)),  # the upset day through 60 s reagent lines
}
# own seeds for the scenario files that carry none (the two original days: their tests pin the plant's)
OWN_SEED = {"normal-day": 1506, "upset-day": 1507, "dead-time-60s": 1508}
VOTE = ("AIT-101", "AIT-104", "AIT-105")  # the strategy's PV: middle of three on T-101; the baseline has AIT-101


def isolation_s(sc: Scenario, r: ClosedLoopResult) -> list[float]:
    """From each electrode fault the scenario injects on a voted electrode to its removal from the vote."""
    out = []
    for ev in sc.events:
        if isinstance(ev, SensorEvent) and ev.sensor in VOTE and (ev.stuck or ev.drift_per_h or ev.broken) \
                and ev.at < sc.duration_s:
            removed = [(e.ts - EPOCH).total_seconds() for e in r.vote_events
                       if e.electrode == ev.sensor and e.kind is VoteEventKind.REMOVED
                       and (e.ts - EPOCH).total_seconds() >= ev.at]
            out.append(removed[0] - ev.at if removed else float("inf"))
    return out


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


def _window(sc: Scenario, start_h: float, end_h: float) -> Scenario:
    """The part of a day from start_h to end_h (--quick): earlier state changes applied at t = 0, in order;
    a slug still running is trimmed; earlier communication drops are left out."""
    t0 = start_h * 3600.0
    events: list[Event] = []
    for ev in sc.events:
        if ev.at >= t0:
            events.append(ev.model_copy(update={"at": ev.at - t0}))
        elif isinstance(ev, ShockEvent):
            left = ev.at + ev.shock_load.duration_s - t0
            if left > 0:
                events.append(ev.model_copy(update={"at": 0.0, "shock_load": ev.shock_load.model_copy(
                    update={"duration_s": left})}))
        elif isinstance(ev, InfluentEvent):
            events.append(ev.model_copy(update={"at": 0.0, "ramp_s": 0.0}))
        elif not isinstance(ev, CommsDropEvent):
            events.append(ev.model_copy(update={"at": 0.0}))
    return Scenario(sc.name, sc.description, (end_h - start_h) * 3600.0, sc.seed, tuple(events))


def _params(dead_time_s: float | None, start_h: float) -> SimParams:
    p = load_sim_params(PLANT)
    update: dict[str, Any] = {"start_time_h": start_h}
    if dead_time_s is not None:
        update["naoh_pump"] = p.naoh_pump.model_copy(update={"dead_time_s": dead_time_s})
        update["acid_pump"] = p.acid_pump.model_copy(update={"dead_time_s": dead_time_s})
    return p.model_copy(update=update)


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
    runs: dict[str, tuple[Scenario, SimParams]] = {}
    for i, (name, (path, dead_time_s, (h0, h1))) in enumerate(SCENARIOS.items()):
        sc = load_scenario(path)
        seed = args.seed + i if args.seed is not None else (sc.seed if sc.seed is not None else OWN_SEED[name])
        sc = Scenario(name, sc.description, sc.duration_s, seed, sc.events)
        runs[name] = (_window(sc, h0, h1), _params(dead_time_s, h0)) if args.quick else (sc, _params(dead_time_s, 0.0))
    t_start = time.perf_counter()

    fixed_tuning = tune(PLANT, "PHC-101", step_pct=0.2, compensation="none", setpoint=7.0)  # tuned at pH 7
    print(fixed_tuning)
    fixed = {"compensation": "none", "kp": fixed_tuning.proposal.kc, "ki": fixed_tuning.proposal.ki, "kd": 0.0}
    out: dict[str, Any] = {}
    keys = ("iae", "reagent_l", "tank_out_s", "iae_pv_good", "offspec_l", "discharged_l", "water_in_spec_l")
    totals = {label: dict.fromkeys(keys, 0.0) for label in ("compensated", "fixed")}
    tank_out: dict[str, dict[str, float]] = {"compensated": {}, "fixed": {}}
    offspec: dict[str, float] = {}
    isolated: list[float] = []
    for name, (sc, params) in runs.items():
        for label, over in (("compensated", None), ("fixed", fixed)):
            vote = VOTE if label == "compensated" else None
            r = run_loop_on_scenario(PLANT, sc, overrides=over, record_every_s=5.0, sim_params=params, vote=vote)
            if vote is not None:
                isolated += isolation_s(sc, r)
            print(f"{label:<12}", r.line(), f"off-spec to outfall {r.figures['offspec_discharged_l']:.0f} L")
            f = r.figures
            reagent = f["naoh_l"] + f["h2so4_l"]
            tot = totals[label]
            tot["iae"] += f["iae_ph_s"]
            tot["reagent_l"] += reagent
            tot["tank_out_s"] += f["time_out_of_band_s"]
            tot["iae_pv_good"] += f["iae_ph_s_pv_good"]
            tot["offspec_l"] += f["offspec_discharged_l"]
            tot["discharged_l"] += f["discharged_l"]
            in_spec = f["discharged_l"] - f["offspec_discharged_l"]
            tot["water_in_spec_l"] += in_spec
            key = name.replace("-", "_")
            tank_out[label][name] = round(f["time_out_of_band_s"], 1)
            out[f"{key}_iae_{label}"] = round(f["iae_ph_s"], 1)
            out[f"{key}_max_dev_ph_{label}"] = round(f["max_deviation_ph"], 3)
            out[f"{key}_reagent_l_{label}"] = round(reagent, 2)
            if label == "compensated":
                offspec[name] = round(f["offspec_discharged_l"], 1)
    c, x = totals["compensated"], totals["fixed"]
    out["tank_out_of_band_s"] = tank_out  # T-101 itself outside 6-9, no window excused
    out["offspec_discharged_l_by_scenario"] = offspec
    out["offspec_discharged_l"] = round(c["offspec_l"], 1)  # the compensated strategy, all scenarios
    out["offspec_discharged_fraction"] = round(c["offspec_l"] / c["discharged_l"], 4)
    out["diverted_l_max_fraction"] = None  # no diversion valve yet
    # inf: a fault never taken out of the vote (e.g. the upset day's 0.2 pH/h drift, repaired before it
    # reached 0.6 pH from the others: the known limit of the drift detection)
    out["electrode_fault_isolated_s_max"] = round(max(isolated), 1) if isolated and max(isolated) < 1e9 else None
    out["electrode_faults"] = len(isolated)
    out["electrode_faults_not_isolated"] = sum(1 for s in isolated if s == float("inf"))
    # reagent per litre discharged in spec, compensated over fixed; None when either put nothing in spec
    per_c = c["reagent_l"] / c["water_in_spec_l"] if c["water_in_spec_l"] > 0 else None
    per_x = x["reagent_l"] / x["water_in_spec_l"] if x["water_in_spec_l"] > 0 else None
    out["reagent_ratio"] = round(per_c / per_x, 4) if per_c is not None and per_x is not None else None
    out["reagent_ratio_total"] = round(c["reagent_l"] / x["reagent_l"], 4)
    if not args.quick:  # the other compensation, same gains: for the engineer choosing between them
        upset_sc, upset_params = runs["upset-day"]
        r = run_loop_on_scenario(PLANT, upset_sc, overrides={"compensation": "gain_schedule"},
                                 record_every_s=5.0, sim_params=upset_params)
        print(f"{'gain sched.':<12}", r.line())
        out["upset_day_iae_gain_schedule"] = round(r.figures["iae_ph_s"], 1)
        out["upset_day_out_of_band_s_gain_schedule"] = round(r.figures["time_out_of_band_s_sensor_ok"], 1)
        for key, over in ablations(load_plant(PLANT)).items():  # what each part of the shipped loop buys
            r = run_loop_on_scenario(PLANT, upset_sc, overrides=over, record_every_s=5.0, sim_params=upset_params)
            print(f"{key:<28}", r.line())
            out[f"upset_day_out_of_band_s_{key}"] = round(r.figures["time_out_of_band_s_sensor_ok"], 1)
    out["iae_compensated"] = round(c["iae"], 1)
    out["iae_fixed"] = round(x["iae"], 1)
    out["iae_ratio"] = round(c["iae"] / x["iae"], 4)
    out["iae_ratio_pv_good"] = round(c["iae_pv_good"] / x["iae_pv_good"], 4)
    out["tank_out_of_band_s_compensated"] = round(c["tank_out_s"], 1)
    out["tank_out_of_band_s_fixed"] = round(x["tank_out_s"], 1)
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
