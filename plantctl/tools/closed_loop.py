"""Closed-loop runs of a plant file (every loop and diversion valve) against the headless simulator, with the
figures engineers compare.

The loop sees only what a PLC would show (readings as Samples with quality); the figures are
computed on the simulator's true pH, which the loop never sees.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import ValidationError

from control.events import EventLog, LoopEventKind
from control.group import LoopGroup
from control.loop import Loop, ModeRefused
from plantctl.config.models import LoopConfig, LoopMode, PlantConfig
from plantctl.plantfile import load_plant
from plantctl.quality import Quality
from plantctl.samples import Sample
from sim.chemistry import LI_G_MOL
from sim.headless import Trajectory, run_scenario
from sim.interface import COMMANDS, Reading, SensorStatus
from sim.params import SimParams, load_sim_params
from sim.scenario import CommsDropEvent, Event, InfluentEvent, Scenario, ShockEvent, load_scenario

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)  # simulated t = 0 s, as sample timestamps
_QUALITY = {SensorStatus.GOOD: Quality.GOOD, SensorStatus.UNCERTAIN: Quality.UNCERTAIN,
            SensorStatus.FAILED: Quality.BAD_SENSOR_FAILURE}



def sample_of(tag: str, reading: Reading, t_s: float) -> Sample:
    """A PLC reading as the connector would deliver it (SensorStatus → OPC DA quality)."""
    q = _QUALITY[SensorStatus(reading.status)]
    return Sample(tag, EPOCH + timedelta(seconds=t_s), float(reading.value), q,
                  "" if q.is_good else f"instrument status {SensorStatus(reading.status).name}")


def loop_config(plant: PlantConfig, name: str, **overrides: Any) -> LoopConfig:
    """The named loop of a plant file, with fields replaced (e.g. compensation='none', kp=…)."""
    cfg = next((lp for lp in plant.loops if lp.name == name), None)
    if cfg is None:
        known = ", ".join(lp.name for lp in plant.loops) or "none"
        raise KeyError(f"no loop {name!r} in the plant file (loops: {known})")
    try:
        return LoopConfig.model_validate({**cfg.model_dump(), **overrides})
    except ValidationError as exc:
        what = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"loop {name} with {overrides}: {what}") from None


class ReturnLoopsToAuto:
    """The attentive operator for a whole plant: each shed loop goes back to AUTO (CAS for a cascade
    secondary) at its configured setpoint once its PV has been usable for `delay_s`; an electrode taken
    out of a vote is returned once it has read within `agree_ph` of the vote for `readmit_s` (the
    technician's check after the repair)."""

    def __init__(self, plant: PlantConfig, delay_s: float = 60.0, readmit_s: float = 600.0,
                 agree_ph: float = 0.1) -> None:
        self._setpoints = {lp.name: lp.setpoint for lp in plant.loops}
        self._secondaries = {lp.name for lp in plant.loops if lp.cas_source in self._setpoints}
        self._usable_since: dict[str, float] = {}
        self._agreeing: dict[str, tuple[float, float, float]] = {}  # electrode -> (since, min, max) while agreeing
        self.delay_s = delay_s
        self.readmit_s = readmit_s
        self.agree_ph = agree_ph
        self.returns: list[tuple[float, str]] = []
        self.readmitted: list[tuple[float, str]] = []

    def _readmit(self, t_s: float, loop: Loop) -> None:
        voter, vote = loop.voter, loop.vote
        if voter is None or vote is None or vote.quality.is_bad:
            return
        for el in voter.electrodes:
            smp = voter.latest(el)
            if voter.fault_of(el) is None or smp is None or smp.quality.is_bad \
                    or abs(smp.value - vote.value) > self.agree_ph:
                self._agreeing.pop(el, None)
                continue
            since, lo, hi = self._agreeing.get(el, (t_s, smp.value, smp.value))
            lo, hi = min(lo, smp.value), max(hi, smp.value)
            self._agreeing[el] = (since, lo, hi)
            if t_s - since >= self.readmit_s and hi - lo > 0.005:  # agrees, and is alive (not frozen)
                voter.readmit(el, EPOCH + timedelta(seconds=t_s), "technician (simulated)")
                self.readmitted.append((t_s, el))
                self._agreeing.pop(el, None)

    def __call__(self, t_s: float, group: LoopGroup) -> None:
        for loop in group.loops.values():
            self._readmit(t_s, loop)
        for name, loop in group.loops.items():
            if loop.mode is not LoopMode.MAN or not loop.pv_usable:
                self._usable_since.pop(name, None)
                continue
            since = self._usable_since.setdefault(name, t_s)
            if t_s - since < self.delay_s:
                continue
            now = EPOCH + timedelta(seconds=t_s)
            mode = LoopMode.CAS if name in self._secondaries else LoopMode.AUTO
            try:
                if mode is LoopMode.AUTO:
                    loop.set_setpoint(self._setpoints[name], "operator (simulated)", now)
                loop.set_mode(mode, "operator (simulated)", now, "PV repaired")
                self.returns.append((t_s, name))
            except ModeRefused:
                pass
            self._usable_since.pop(name, None)


PlantOperator = Callable[[float, LoopGroup], None]


@dataclass
class PlantRunResult:
    """A whole-plant closed-loop run: trajectory, events (loops, votes, diversion) and the figures."""

    scenario: str
    label: str
    traj: Trajectory
    events: EventLog
    setpoints: dict[str, float]
    band: tuple[float, float] = (6.0, 9.0)
    count_from_s: float = 0.0
    # equivalents per litre of each reagent: base as OH- (or Na of soda ash, one H+ each once its CO2
    # has left), acid as H+; the column's Li capacity in mol, for the H+ it releases
    strengths: dict[str, float] = field(default_factory=dict)
    column_capacity_mol: float = 0.0
    # (times s, working setpoints) of each pH loop, every period: a loop with setpoint_shift: controls to
    # its working setpoint, and its IAE is counted against that; iae_plant_sp_ph_s against the plant file's
    working_setpoints: dict[str, tuple[FloatArray, FloatArray]] = field(default_factory=dict)
    figures: dict[str, float] = field(default_factory=dict)

    def compute(self) -> None:
        keep = self.traj.t_s >= self.count_from_s  # a warm-up before it is not counted
        t = self.traj.t_s[keep]
        tr = {k: v[keep] for k, v in self.traj.true.items()}
        dt = np.diff(t, append=t[-1] + (t[1] - t[0] if len(t) > 1 else 1.0))
        lo, hi = self.band

        def off(x: FloatArray) -> BoolArray:
            return (x < lo) | (x > hi)

        f: dict[str, float] = {}
        iae_total = iae_plant = 0.0
        for key, signal in (("t101", "ph"), ("t401", "trim_ph")):
            loop = _TANK_LOOP[key]
            sp = self.setpoints.get(loop)
            if sp is None or signal not in tr:
                continue
            logged = self.working_setpoints.get(loop)
            working = np.interp(t, *logged) if logged is not None and len(logged[0]) else np.full_like(t, sp)
            err = np.abs(tr[signal] - working) * dt
            f[f"iae_{key}_ph_s"] = float(np.sum(err))
            iae_total += f[f"iae_{key}_ph_s"]
            iae_plant += float(np.sum(np.abs(tr[signal] - sp) * dt))
            f[f"working_sp_mean_{key}"] = float(np.sum(working * dt) / np.sum(dt))
            f[f"out_of_band_{key}_s"] = float(np.sum(dt[off(tr[signal])]))
            f[f"max_deviation_{key}_ph"] = float(np.max(np.abs(tr[signal] - working)))
        f["iae_ph_s"] = iae_total
        f["iae_plant_sp_ph_s"] = iae_plant
        outfall_l = tr["outfall_m3_h"] / 3.6 * dt
        overflow_l = tr["holding_overflow_m3_h"] / 3.6 * dt
        f["offspec_discharged_l"] = float(np.sum(outfall_l[off(tr["discharge_ph"])])
                                          + np.sum(overflow_l[off(tr["holding_ph"])]))
        f["discharged_l"] = float(np.sum(outfall_l) + np.sum(overflow_l))
        f["diverted_l"] = float(np.sum(tr["diverted_m3_h"] / 3.6 * dt))
        f["returned_l"] = float(np.sum(tr["return_m3_h"] / 3.6 * dt))
        f["influent_l"] = float(np.sum(tr["influent_flow_m3_h"] / 3.6 * dt))
        f["holding_overflow_l"] = float(np.sum(overflow_l))
        f["naoh_l"] = float(np.sum((tr["naoh_delivered_l_h"] + tr["trim_naoh_delivered_l_h"]) * dt) / 3600.0)
        f["h2so4_l"] = float(np.sum((tr["acid_delivered_l_h"] + tr["trim_acid_delivered_l_h"]) * dt) / 3600.0)
        f["reagent_l"] = f["naoh_l"] + f["h2so4_l"]
        f.update(self._reagent_breakdown(tr, dt))
        f["wall_s"] = self.traj.wall_s
        self.figures = f

    def _reagent_breakdown(self, tr: Mapping[str, FloatArray], dt: FloatArray) -> dict[str, float]:
        """Litres and equivalents (mol) per tank and reagent, the H+ C-301 released for the Li it took up,
        and the acid dosed with the base that then neutralised it (acid then base: pure waste)."""
        f: dict[str, float] = {}
        for key, signal, pump in (("t101_naoh", "naoh_delivered_l_h", "P-201"),
                                  ("t101_h2so4", "acid_delivered_l_h", "P-202"),
                                  ("t401_soda_ash", "trim_naoh_delivered_l_h", "P-401"),
                                  ("t401_h2so4", "trim_acid_delivered_l_h", "P-402")):
            litres = float(np.sum(tr[signal] * dt) / 3600.0)
            f[f"{key}_l"] = litres
            f[f"{key}_eq"] = litres * self.strengths.get(pump, 0.0)
        loading = tr["column_loading_fraction"]
        f["column_h_released_eq"] = float(loading[-1] - loading[0]) * self.column_capacity_mol if len(loading) else 0.0
        f["acid_eq"] = f["t101_h2so4_eq"] + f["t401_h2so4_eq"]
        f["base_eq"] = f["t101_naoh_eq"] + f["t401_soda_ash_eq"]
        f["acid_waste_eq"] = 2.0 * f["acid_eq"]  # the acid, and the base that neutralised it again
        return f

    @property
    def vote_removals(self) -> list[tuple[float, str, str]]:
        """(t_s, loop, reason) of each electrode taken out of a vote."""
        return [((e.ts - EPOCH).total_seconds(), e.loop, e.reason) for e in self.events.events
                if e.kind is LoopEventKind.ELECTRODE_REMOVED]

    def line(self) -> str:
        f = self.figures
        return (f"{self.scenario:<20} {self.label:<12} IAE T-101 {f.get('iae_t101_ph_s', 0):>8.0f} "
                f"T-401 {f.get('iae_t401_ph_s', 0):>8.0f} pH·s  out of 6–9 "
                f"T-101 {f.get('out_of_band_t101_s', 0):>6.0f} s "
                f"T-401 {f.get('out_of_band_t401_s', 0):>6.0f} s  diverted {f['diverted_l']:>8.0f} L  "
                f"off-spec out {f['offspec_discharged_l']:>6.0f} L  reagent {f['reagent_l']:.1f} L")


_TANK_LOOP = {"t101": "PHC-101", "t401": "PHC-401"}


def plant_with(plant: PlantConfig, overrides: Mapping[str, Mapping[str, Any]]) -> PlantConfig:
    """The plant file with fields of named loops replaced (e.g. {'PHC-101': {'compensation': 'none'}})."""
    unknown = set(overrides) - {lp.name for lp in plant.loops}
    if unknown:
        raise KeyError(f"no loop {', '.join(sorted(unknown))} in the plant file")
    loops = [loop_config(plant, lp.name, **overrides.get(lp.name, {})) for lp in plant.loops]
    # a diversion measuring a loop whose vote was overridden away reads that loop's PV electrode instead
    unvoted = {lp.name: lp.pv for lp in loops if not lp.voted_with}
    diversion = [d.model_copy(update={"ph": [unvoted.get(m, m) for m in d.ph]}) for d in plant.diversion]
    return plant.model_copy(update={"loops": loops, "diversion": diversion})


def run_plant_on_scenario(plant_file: str | Path, scenario: Scenario | str | Path, *, label: str = "plant",
                          overrides: Mapping[str, Mapping[str, Any]] | None = None,
                          operator: PlantOperator | None = None, duration_s: float | None = None,
                          record_every_s: float = 5.0, sim_params: SimParams | None = None,
                          count_from_s: float = 0.0, start_pumps_at_s: float | None = 0.0) -> PlantRunResult:
    """Every loop and diversion valve of the plant file (LoopGroup, as `plantctl run` runs them) closed
    around the simulator; the pumps are started at t = 0 and a simulated operator returns shed loops.
    Figures count from `count_from_s` (a warm-up before it settles the plant from its initial state)."""
    plant = plant_with(load_plant(plant_file), overrides or {})
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    if duration_s is not None:
        sc = Scenario(sc.name, sc.description, duration_s, sc.seed, sc.events)
    log = EventLog()
    group = LoopGroup(plant, log)
    op = operator if operator is not None else ReturnLoopsToAuto(plant)
    inputs = group.inputs
    period = min(group.period_of(n) for n in group.blocks) if group.blocks else 1.0
    runs = sorted({name.replace(".SP", ".RUN") for name in COMMANDS if name.endswith(".SP")} & set(COMMANDS))
    clock = {"next": 0.0, "last": -1.0}  # last < 0: not executed yet
    started = False
    sp_log: dict[str, tuple[list[float], list[float]]] = {
        name: ([], []) for name in _TANK_LOOP.values() if name in group.loops}

    def controller(t_s: float, readings: dict[str, Reading]) -> dict[str, float]:
        nonlocal started
        commands: dict[str, float] = {}
        if not started and start_pumps_at_s is not None and t_s >= start_pumps_at_s:
            commands.update(dict.fromkeys(runs, 1.0))  # the shift operator starts the pumps
            started = True
        for tag, reading in readings.items():
            if tag in inputs:
                group.on_sample(sample_of(tag, reading, t_s))
        if t_s + 1e-9 < clock["next"]:
            return commands
        dt = period if clock["last"] < 0 else t_s - clock["last"]
        clock["last"] = t_s
        clock["next"] += period
        op(t_s, group)
        for req in group.execute(EPOCH + timedelta(seconds=t_s), dt):
            if req.tag in COMMANDS:
                commands[req.tag] = min(max(req.value, 0.0), 100.0)
        for name, (times, values) in sp_log.items():
            times.append(t_s)
            values.append(group.loops[name].working_setpoint)
        return commands

    params = sim_params if sim_params is not None else load_sim_params(plant_file)
    traj = run_scenario(sc, params=params, controller=controller, record_every_s=record_every_s)
    strengths = {"P-201": params.naoh_pump.reagent_mol_l, "P-202": 2.0 * params.acid_pump.reagent_mol_l,
                 "P-401": params.trim_naoh_pump.reagent_mol_l, "P-402": 2.0 * params.trim_acid_pump.reagent_mol_l}
    res = PlantRunResult(sc.name, label, traj, log, {lp.name: lp.setpoint for lp in plant.loops},
                         count_from_s=count_from_s, strengths=strengths,
                         column_capacity_mol=params.column.capacity_kg_li * 1000.0 / LI_G_MOL,
                         working_setpoints={n: (np.asarray(ts, dtype=float), np.asarray(vs, dtype=float))
                                            for n, (ts, vs) in sp_log.items()})
    res.compute()
    return res


def scenario_window(sc: Scenario, start_h: float, end_h: float) -> Scenario:
    """The part of a day from start_h to end_h: earlier state changes applied at t = 0, in order; a slug
    still running is trimmed; earlier communication drops are left out. Run it with the simulator's
    `start_time_h` at start_h."""
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
