"""Closed-loop runs of a plant-file loop against the headless simulator, with the figures engineers compare.

The loop sees only what a PLC would show (readings as Samples with quality); the figures are
computed on the simulator's true pH, which the loop never sees.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from control.events import EventLog
from control.loop import Loop, ModeRefused
from control.voting import ElectrodeVoter, VoteEvent
from plantctl.config.models import LoopConfig, LoopMode, PlantConfig
from plantctl.plantfile import load_plant
from plantctl.quality import Quality
from plantctl.samples import Sample
from sim.headless import Trajectory, run_scenario
from sim.interface import COMMANDS, Reading, SensorStatus
from sim.params import SimParams, load_sim_params
from sim.scenario import Scenario, load_scenario

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)  # simulated t = 0 s, as sample timestamps
_QUALITY = {SensorStatus.GOOD: Quality.GOOD, SensorStatus.UNCERTAIN: Quality.UNCERTAIN,
            SensorStatus.FAILED: Quality.BAD_SENSOR_FAILURE}

Operator = Callable[[float, Loop], None]
"""Called every loop period with (t_s, loop): plays the shift operator (mode returns, setpoints)."""


def sample_of(tag: str, reading: Reading, t_s: float) -> Sample:
    """A PLC reading as the connector would deliver it (SensorStatus → OPC DA quality)."""
    q = _QUALITY[SensorStatus(reading.status)]
    return Sample(tag, EPOCH + timedelta(seconds=t_s), float(reading.value), q,
                  "" if q.is_good else f"instrument status {SensorStatus(reading.status).name}")


class ReturnToAuto:
    """An attentive operator: once the PV is usable again, returns a shed loop to AUTO at its setpoint."""

    def __init__(self, setpoint: float, delay_s: float = 60.0) -> None:
        self.setpoint = setpoint
        self.delay_s = delay_s
        self._usable_since: float | None = None
        self.returns: list[float] = []

    def __call__(self, t_s: float, loop: Loop) -> None:
        if loop.mode is not LoopMode.MAN or not loop.pv_usable:
            self._usable_since = None
            return
        if self._usable_since is None:
            self._usable_since = t_s
        if t_s - self._usable_since >= self.delay_s:
            now = EPOCH + timedelta(seconds=t_s)
            try:
                loop.set_mode(LoopMode.AUTO, "operator (simulated)", now, "PV repaired")
                loop.set_setpoint(self.setpoint, "operator (simulated)", now)
                self.returns.append(t_s)
            except ModeRefused:
                pass
            self._usable_since = None


@dataclass
class ClosedLoopResult:
    """A run's trajectory, its loop events, and the figures of merit (true pH against the setpoint)."""

    loop: str
    scenario: str
    compensation: str
    traj: Trajectory
    events: EventLog
    setpoint: float
    band: tuple[float, float] = (6.0, 9.0)
    pv_tag: str = "AIT-101"
    figures: dict[str, float] = field(default_factory=dict)
    vote_events: list[VoteEvent] = field(default_factory=list)

    def compute(self) -> None:
        t = self.traj.t_s
        ph = self.traj.true["ph"]
        dt = np.diff(t, append=t[-1] + (t[1] - t[0] if len(t) > 1 else 1.0))
        err = ph - self.setpoint
        status = self.traj.status[self.pv_tag]  # SensorStatus codes of the PV
        sensor_failed = status == int(SensorStatus.FAILED)
        pv_good = status == int(SensorStatus.GOOD)
        out = (ph < self.band[0]) | (ph > self.band[1])
        discharge = self.traj.true["discharge_ph"]
        offspec = (discharge < self.band[0]) | (discharge > self.band[1])
        outflow_l_s = self.traj.true["outflow_m3_h"] / 3.6
        self.figures = {
            "iae_ph_s": float(np.sum(np.abs(err) * dt)),
            # only while the PV read GOOD: a failed or drifting (UNCERTAIN) electrode misleads both
            # controllers alike, and that error is the instrument's, not the controller's
            "iae_ph_s_pv_good": float(np.sum((np.abs(err) * dt)[pv_good])),
            "ise_ph2_s": float(np.sum(err * err * dt)),
            "time_out_of_band_s": float(np.sum(dt[out])),
            "time_out_of_band_s_sensor_ok": float(np.sum(dt[out & ~sensor_failed])),
            "max_deviation_ph": float(np.max(np.abs(err))),
            # what the outfall received outside the band (after C-301), no window excused
            "offspec_discharged_l": float(np.sum((outflow_l_s * dt)[offspec])),
            "discharged_l": float(np.sum(outflow_l_s * dt)),
            "naoh_l": float(np.sum(self.traj.true["naoh_delivered_l_h"] * dt) / 3600.0),
            "h2so4_l": float(np.sum(self.traj.true["acid_delivered_l_h"] * dt) / 3600.0),
            "sensor_failed_s": float(np.sum(dt[sensor_failed])),
            "wall_s": self.traj.wall_s,
        }

    def line(self) -> str:
        f = self.figures
        return (f"{self.scenario:<12} {self.compensation:<14} IAE {f['iae_ph_s']:>9.0f} pH·s  "
                f"ISE {f['ise_ph2_s']:>8.0f} pH²·s  out of 6–9 {f['time_out_of_band_s']:>6.0f} s "
                f"({f['time_out_of_band_s_sensor_ok']:.0f} s with the sensor good)  max dev "
                f"{f['max_deviation_ph']:.2f} pH  NaOH {f['naoh_l']:.1f} L  H2SO4 {f['h2so4_l']:.1f} L")


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


def run_loop_on_scenario(plant_file: str | Path, scenario: Scenario | str | Path, loop_name: str = "PHC-101",
                         *, overrides: dict[str, Any] | None = None, operator: Operator | None = None,
                         duration_s: float | None = None, record_every_s: float = 10.0,
                         start_pumps_at_s: float | None = 0.0,
                         sim_params: SimParams | None = None,
                         vote: Sequence[str] | None = None) -> ClosedLoopResult:
    """Run the loop from the plant file (with overrides) closed around the simulator for a scenario.

    The shift operator starts the dosing pumps at `start_pumps_at_s` (None: never). `sim_params`
    replaces the plant file's simulator section (a plant other than the one the loop was tuned on).
    `vote` names three electrodes (the loop's PV first): the loop then sees their middle-of-three
    (control.voting) under its PV's name, interlocks on that tag included; vote events are in the result.
    """
    plant = load_plant(plant_file)
    cfg = loop_config(plant, loop_name, **(overrides or {}))
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    if duration_s is not None:
        sc = Scenario(sc.name, sc.description, duration_s, sc.seed, sc.events)
    log = EventLog()
    pv_unit = plant.tag(cfg.pv).unit if any(t.name == cfg.pv for t in plant.tags) else ""
    loop = Loop(cfg, log, pv_unit)
    op = operator if operator is not None else ReturnToAuto(cfg.setpoint)
    inputs = sorted(loop.inputs)
    vote_events: list[VoteEvent] = []
    voter: ElectrodeVoter | None = None
    if vote is not None:
        if len(vote) != 3 or vote[0] != cfg.pv:
            raise ValueError(f"vote: three electrodes with the loop's PV {cfg.pv} first, got {list(vote)}")
        voter = ElectrodeVoter(list(vote), events=vote_events.append)
    next_exec = 0.0
    last_exec: float | None = None
    started = False

    def controller(t_s: float, readings: dict[str, Reading]) -> dict[str, float]:
        nonlocal next_exec, last_exec, started
        commands: dict[str, float] = {}
        if start_pumps_at_s is not None and t_s >= start_pumps_at_s and not started:
            commands.update({mv.replace(".SP", ".RUN"): 1.0 for mv in cfg.mv if mv.endswith(".SP")})
            started = True
        if voter is not None:
            voted = voter.update(EPOCH + timedelta(seconds=t_s),
                                 {tag: sample_of(tag, readings[tag], t_s) for tag in voter.electrodes})
        for tag in inputs:
            if voter is not None and tag == cfg.pv:
                loop.on_sample(voted.sample(tag, EPOCH + timedelta(seconds=t_s)))
            elif tag in readings:
                loop.on_sample(sample_of(tag, readings[tag], t_s))
        if t_s + 1e-9 < next_exec:
            return commands
        dt = cfg.period_s if last_exec is None else t_s - last_exec
        last_exec = t_s
        next_exec += cfg.period_s
        now = EPOCH + timedelta(seconds=t_s)
        op(t_s, loop)
        for req in loop.execute(now, dt):
            if req.tag in COMMANDS:
                commands[req.tag] = min(max(req.value, 0.0), 100.0)
        return commands

    params = sim_params if sim_params is not None else load_sim_params(plant_file)
    traj = run_scenario(sc, params=params, controller=controller, record_every_s=record_every_s)
    res = ClosedLoopResult(loop_name, sc.name, cfg.compensation.value, traj, log, cfg.setpoint, pv_tag=cfg.pv,
                           vote_events=vote_events)
    res.compute()
    return res
