"""Unseen upsets: scenarios generated from a seed within each class of upset, run on the whole plant.

The strategy is judged on upsets that are not in the scenario files, so each class (an acid slug, a
reagent pump losing capacity, an electrode freezing, a flowmeter failing…) is drawn afresh for every
run — random time of day, onset, magnitude, duration and the instrument or pump it strikes — and
the plant file runs closed around the simulator exactly as `plantctl run` runs it
(closed_loop.run_plant_on_scenario). The figures are counted on the simulator's true state after a
warm-up that settles the plant.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plantctl.plantfile import load_plant
from plantctl.tools.closed_loop import run_plant_on_scenario
from sim.params import SimParams, load_sim_params
from sim.scenario import (
    ColumnChange,
    ColumnEvent,
    Event,
    InfluentChange,
    InfluentEvent,
    PumpEvent,
    Scenario,
    SensorEvent,
    ShockEvent,
    ShockLoad,
)

T101_ELECTRODES = ("AIT-101", "AIT-104", "AIT-105")
T401_ELECTRODES = ("AIT-401", "AIT-402", "AIT-403")
REAGENT_PUMPS = {"P-201": "naoh_pump", "P-401": "trim_naoh_pump"}  # pump tag → SimParams field
NOMINAL_MOL_L = {"P-201": 6.1, "P-401": 4.0}
ELECTRODE_FAULTS = ("stuck", "drift", "broken", "fail")


@dataclass(frozen=True)
class Upset:
    """One drawn upset: its events (times from the start of the window) and simulator changes."""

    cls: str
    what: str
    events: tuple[Event, ...]
    params: dict[str, Any] = field(default_factory=dict)


Draw = Callable[[random.Random, float], Upset]  # (rng, onset s) → upset


def _shock(at: float, duration_s: float, **values: float) -> ShockEvent:
    return ShockEvent(at=at, shock_load=ShockLoad(duration_s=duration_s, **values))


def _sensor(at: float, sensor: str, **act: Any) -> SensorEvent:
    return SensorEvent.model_validate({"at": at, "sensor": sensor, **act})


def _pump(at: float, pump: str, **act: Any) -> PumpEvent:
    return PumpEvent.model_validate({"at": at, "pump": pump, **act})


def _sensor_fault(sensor: str, at: float, kind: str, rng: random.Random) -> tuple[SensorEvent, str]:
    if kind == "stuck":
        return _sensor(at, sensor, stuck=True), f"{sensor} frozen"
    if kind == "broken":
        return _sensor(at, sensor, broken=True), f"{sensor} broken glass"
    if kind == "fail":
        return _sensor(at, sensor, fail=True), f"{sensor} failed"
    rate = rng.choice((-1.0, 1.0)) * rng.uniform(0.5, 4.0)
    return _sensor(at, sensor, drift_per_h=rate), f"{sensor} drifting {rate:+.1f} pH/h"


def acid_slug(rng: random.Random, at: float) -> Upset:
    ph, dur, flow = rng.uniform(1.0, 2.5), rng.uniform(600, 5400), rng.uniform(3.0, 12.0)
    return Upset("acid-slug", f"pH {ph:.2f} for {dur / 60:.0f} min at {flow:.1f} m3/h",
                 (_shock(at, dur, ph=ph, flow_m3_h=flow),))


def alkaline_spill(rng: random.Random, at: float) -> Upset:
    ph, dur, flow = rng.uniform(10.0, 12.5), rng.uniform(600, 5400), rng.uniform(3.0, 12.0)
    return Upset("alkaline-spill", f"pH {ph:.2f} for {dur / 60:.0f} min at {flow:.1f} m3/h",
                 (_shock(at, dur, ph=ph, flow_m3_h=flow),))


def flow_surge(rng: random.Random, at: float) -> Upset:
    flow, dur = rng.uniform(10.0, 16.0), rng.uniform(600, 7200)
    return Upset("flow-surge", f"{flow:.1f} m3/h for {dur / 60:.0f} min", (_shock(at, dur, flow_m3_h=flow),))


def buffer_swing(rng: random.Random, at: float) -> Upset:
    if rng.random() < 0.5:
        tic = rng.choice((0.0, rng.uniform(10.0, 25.0)))
        ramp = rng.uniform(0, 1800)
        return Upset("tic-metals-swing", f"TIC → {tic:.1f} mmol/L over {ramp / 60:.0f} min",
                     (InfluentEvent(at=at, influent=InfluentChange(tic_mmol_l=tic), ramp_s=ramp),))
    metals = {m: rng.uniform(20.0, 300.0) for m in rng.sample(["ni_mg_l", "co_mg_l", "mn_mg_l", "al_mg_l", "fe_mg_l"],
                                                                k=rng.randint(1, 3))}
    dur = rng.uniform(1800, 7200)
    what = ", ".join(f"{k.split('_')[0]} {v:.0f}" for k, v in metals.items())
    return Upset("tic-metals-swing", f"metals ({what} mg/L) for {dur / 60:.0f} min", (_shock(at, dur, **metals),))


def reagent_strength(rng: random.Random, at: float) -> Upset:
    pump = rng.choice(tuple(REAGENT_PUMPS))
    factor = rng.choice((rng.uniform(0.4, 0.8), rng.uniform(1.25, 2.0)))
    mol = NOMINAL_MOL_L[pump] * factor
    return Upset("reagent-strength", f"{pump} reagent {mol:.2f} mol/L ({factor:.2f} x)",
                 (_pump(at, pump, reagent_mol_l=mol),))


def pump_loss(rng: random.Random, at: float) -> Upset:
    pump = rng.choice(tuple(REAGENT_PUMPS))
    dur = rng.uniform(600, 5400)
    kind = rng.choice(("capacity", "trip", "airlock"))
    if kind == "trip":
        return Upset("pump-loss", f"{pump} trip for {dur / 60:.0f} min",
                     (_pump(at, pump, trip=True),
                      _pump(at + dur, pump, reset=True)))
    pct = 0.0 if kind == "airlock" else rng.uniform(20.0, 70.0)
    return Upset("pump-loss", f"{pump} at {pct:.0f} % capacity for {dur / 60:.0f} min, back in one step",
                 (_pump(at, pump, capacity_pct=pct),
                  _pump(at + dur, pump, capacity_pct=100.0)))


def dead_time(rng: random.Random, at: float) -> Upset:
    dt = rng.uniform(40.0, 120.0)
    slug = acid_slug(rng, at)
    return Upset("reagent-dead-time", f"{dt:.0f} s reagent lines, {slug.what}", slug.events,
                 {"dead_time_s": dt})


def electrode_one(rng: random.Random, at: float) -> Upset:
    sensor = rng.choice(T101_ELECTRODES + T401_ELECTRODES)
    ev, what = _sensor_fault(sensor, at, rng.choice(ELECTRODE_FAULTS), rng)
    extra = acid_slug(rng, at + rng.uniform(600, 1800)) if rng.random() < 0.5 else None
    events = (ev, *extra.events) if extra else (ev,)
    return Upset("electrode-one", what + (f", then a slug {extra.what}" if extra else ""), events)


def electrode_two(rng: random.Random, at: float) -> Upset:
    if rng.random() < 0.5:  # two in one tank
        a, b = rng.sample(rng.choice((T101_ELECTRODES, T401_ELECTRODES)), k=2)
    else:
        a, b = rng.choice(T101_ELECTRODES), rng.choice(T401_ELECTRODES)
    ev1, w1 = _sensor_fault(a, at, rng.choice(ELECTRODE_FAULTS), rng)
    ev2, w2 = _sensor_fault(b, at + rng.uniform(0, 1800), rng.choice(ELECTRODE_FAULTS), rng)
    return Upset("electrode-two", f"{w1}; {w2}", (ev1, ev2))


def discharge_analyser(rng: random.Random, at: float) -> Upset:
    ev, what = _sensor_fault("AIT-410", at, rng.choice(ELECTRODE_FAULTS), rng)
    extra = acid_slug(rng, at + rng.uniform(300, 1800)) if rng.random() < 0.5 else None
    events = (ev, *extra.events) if extra else (ev,)
    return Upset("discharge-analyser", what + (f", then a slug {extra.what}" if extra else ""), events)


def flowmeter(rng: random.Random, at: float) -> Upset:
    sensor = rng.choice(("FIT-201", "FIT-401"))
    kind = rng.choice(("fail", "stuck"))
    dur = rng.uniform(900, 5400)
    fault = _sensor(at, sensor, fail=True) if kind == "fail" \
        else _sensor(at, sensor, stuck=True)
    slug = acid_slug(rng, at + rng.uniform(60, 900))  # a load change while the meter is out
    return Upset("flowmeter", f"{sensor} {kind} for {dur / 60:.0f} min, slug {slug.what}",
                 (fault, *slug.events, _sensor(at + dur, sensor, recover=True)))


def column(rng: random.Random, at: float) -> Upset:
    if rng.random() < 0.5:
        return Upset("column", "C-301 fresh after regeneration",
                     (ColumnEvent(at=at, column=ColumnChange(loading_fraction=0.0)),), {"column_loading": 0.8})
    loading = rng.uniform(0.85, 0.99)
    return Upset("column", f"C-301 near exhaustion ({loading:.2f} loaded)",
                 (ColumnEvent(at=at, column=ColumnChange(loading_fraction=loading)),))


def holding_full(rng: random.Random, at: float) -> Upset:
    full = rng.uniform(0.80, 0.97)
    slug = alkaline_spill(rng, at) if rng.random() < 0.5 else acid_slug(rng, at)
    return Upset("holding-full", f"T-501 {full * 100:.0f} % full, {slug.cls} {slug.what}", slug.events,
                 {"holding_fraction": full})


CLASSES: dict[str, Draw] = {
    "acid-slug": acid_slug, "alkaline-spill": alkaline_spill, "flow-surge": flow_surge,
    "tic-metals-swing": buffer_swing, "reagent-strength": reagent_strength, "pump-loss": pump_loss,
    "reagent-dead-time": dead_time, "electrode-one": electrode_one, "electrode-two": electrode_two,
    "discharge-analyser": discharge_analyser, "flowmeter": flowmeter, "column": column,
    "holding-full": holding_full,
}


def spare_overrides(plant_file: str | Path, tank_loops: Sequence[str] = ("PHC-401", "FC-401"),
                    spare: str = "AIT-410") -> dict[str, dict[str, Any]]:
    """T-401's vote and its 2oo3 interlocks with the discharge electrode as their spare (the change proposed for
    the PHC-401 section; FC-401's HH trip has it in the plant file already)."""
    over: dict[str, dict[str, Any]] = {}
    for lp in load_plant(plant_file).loops:
        if lp.name in tank_loops:
            locks = [{**il.model_dump(), **({"spare": spare} if il.voted_with else {})} for il in lp.interlocks]
            over[lp.name] = {"interlocks": locks} | ({"vote_spare": spare} if lp.voted_with else {})
    return over


def sim_params(plant_file: str | Path, start_h: float, changes: dict[str, Any]) -> SimParams:
    """The plant file's simulator with the upset's changes (reagent dead time, bed loading, T-501 level)."""
    p = load_sim_params(plant_file)
    update: dict[str, Any] = {"start_time_h": start_h}
    if "dead_time_s" in changes:
        for name in ("naoh_pump", "acid_pump", "trim_naoh_pump", "trim_acid_pump"):
            update[name] = getattr(p, name).model_copy(update={"dead_time_s": changes["dead_time_s"]})
    if "column_loading" in changes:
        update["column"] = p.column.model_copy(update={"initial_loading_fraction": changes["column_loading"]})
    if "holding_fraction" in changes:
        ht = p.holding_tank
        update["holding_tank"] = ht.model_copy(update={"initial_volume_m3": changes["holding_fraction"] * ht.volume_m3})
    return p.model_copy(update=update)


@dataclass
class SweepRun:
    """One generated upset on the whole plant, with its figures."""

    cls: str
    seed: int
    start_h: float
    what: str
    offspec_l: float
    diverted_fraction: float
    t401_out_of_band_s: float
    t101_out_of_band_s: float
    holding_overflow_l: float
    wall_s: float


def draw(cls: str, seed: int, warmup_s: float, window_s: float) -> tuple[Upset, float]:
    """The upset of a class for a seed: (upset, time of day at the start in h)."""
    rng = random.Random(f"{cls}:{seed}")
    start_h = rng.uniform(0.0, 23.99)
    onset = warmup_s + rng.uniform(0.0, 0.25 * window_s)
    return CLASSES[cls](rng, onset), start_h


def run_one(plant_file: str | Path, cls: str, seed: int, *, warmup_s: float = 1800.0,
            window_s: float = 3 * 3600.0, label: str = "plant",
            overrides: Mapping[str, Mapping[str, Any]] | None = None) -> SweepRun:
    """Draw one upset of a class and run the whole plant (loop fields replaced by `overrides`) through it."""
    upset, start_h = draw(cls, seed, warmup_s, window_s)
    duration = warmup_s + window_s
    events = tuple(sorted((e for e in upset.events if e.at < duration), key=lambda e: e.at))
    sc = Scenario(f"{cls}#{seed}", upset.what, duration, seed, events)
    r = run_plant_on_scenario(plant_file, sc, label=label, sim_params=sim_params(plant_file, start_h, upset.params),
                              count_from_s=warmup_s, record_every_s=5.0, overrides=overrides)
    f = r.figures
    return SweepRun(cls, seed, round(start_h, 2), upset.what, f["offspec_discharged_l"],
                    f["diverted_l"] / f["influent_l"] if f["influent_l"] else 0.0,
                    f.get("out_of_band_t401_s", 0.0), f.get("out_of_band_t101_s", 0.0), f["holding_overflow_l"],
                    f["wall_s"])


def summarise(runs: Sequence[SweepRun]) -> dict[str, dict[str, float]]:
    """Per class: runs, off-spec L at the outfall (total, worst), runs with any, diverted fraction, T-401 s."""
    out: dict[str, dict[str, float]] = {}
    for cls in dict.fromkeys(r.cls for r in runs):
        rs = [r for r in runs if r.cls == cls]
        out[cls] = {"runs": len(rs), "offspec_l": round(sum(r.offspec_l for r in rs), 1),
                    "offspec_l_max": round(max(r.offspec_l for r in rs), 1),
                    "runs_offspec": sum(1 for r in rs if r.offspec_l > 0.0),
                    "diverted_fraction_max": round(max(r.diverted_fraction for r in rs), 4),
                    "t401_out_of_band_s_max": round(max(r.t401_out_of_band_s for r in rs), 1),
                    "t401_out_of_band_s_mean": round(sum(r.t401_out_of_band_s for r in rs) / len(rs), 1)}
    return out
