"""Run the plant model as fast as the CPU allows, with a controller hook per step, recording trajectories.

This is what closed-loop control tests and `plantctl tune` use: no servers, no wall clock.

    def controller(t_s: float, readings: dict[str, Reading]) -> dict[str, float]:
        return {"P-201.SP": 40.0, "P-201.RUN": 1.0}

    traj = run_scenario(load_scenario("examples/scenarios/upset-day.yaml"), controller=controller)
    traj.measured["AIT-101"], traj.true["ph"], traj.time_in_band("ph", 6.0, 9.0)

Each step: the controller sees the readings at t, its commands are applied (a refused command is
recorded in `rejected`, as a PLC answers with an error and keeps running), then the model steps dt.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from sim.interface import COMMANDS, FEEDBACK, MEASUREMENTS, CommandRejected, Reading
from sim.model import PlantModel
from sim.params import SimParams, load_sim_params
from sim.scenario import Scenario

Controller = Callable[[float, dict[str, Reading]], Mapping[str, float] | None]
"""(t_s, readings) -> commands by COMMANDS name (None or {} = no change)."""

# true-state columns; units in the names where the name does not say it (ph: pH, level_pct: %)
TRUE_SIGNALS: tuple[str, ...] = (
    "ph", "conductivity_ms_cm", "temp_c", "level_pct", "outflow_m3_h", "influent_flow_m3_h", "influent_ph",
    "influent_li_mg_l", "naoh_delivered_l_h", "acid_delivered_l_h", "column_outlet_li_mg_l",
    "column_loading_fraction", "discharge_ph",
    # the trim stage, the outfall and the holding tank (TrueState fields of the same names)
    "trim_ph", "column_outlet_ph", "outfall_m3_h", "diverted_m3_h", "holding_overflow_m3_h", "holding_ph",
    "holding_volume_m3", "return_m3_h", "trim_naoh_pumped_l_h", "trim_naoh_delivered_l_h", "trim_acid_pumped_l_h",
    "trim_acid_delivered_l_h", "trim_level_pct", "valve_position",
)
_FIELD_SIGNALS = TRUE_SIGNALS[13:]  # read straight off TrueState by name

FloatArray = npt.NDArray[np.float64]
_UNITS = {"FIT-100": "m3/h", "AIT-100": "pH", "AIT-101": "pH", "CIT-101": "mS/cm", "LIT-101": "%",
          "TIT-101": "degC", "AIT-301": "mg/L", "P-201.SPEED": "%", "P-202.SPEED": "%",
          "AIT-104": "pH", "AIT-105": "pH", "AIT-302": "pH", "FIT-201": "L/h", "FIT-202": "L/h",
          "P-401.SPEED": "%", "P-402.SPEED": "%", "AIT-401": "pH", "AIT-402": "pH", "AIT-403": "pH", "AIT-410": "pH",
          "FIT-401": "L/h", "FIT-402": "L/h", "FIT-410": "m3/h", "XV-410.POS": "%", "LIT-501": "%",
          "P-501.SPEED": "%", "FIT-501": "m3/h", "AIT-300": "mg/L", "FQ-410": "m3"}


@dataclass
class Trajectory:
    """Recorded run, one row per recorded step: at t_s, the readings the controller saw (values and
    SensorStatus codes), the commands in force once it had acted, and the true (unmeasured) state."""

    t_s: FloatArray
    measured: dict[str, FloatArray]
    status: dict[str, FloatArray]
    commanded: dict[str, FloatArray]
    true: dict[str, FloatArray]
    rejected: list[tuple[float, str, float, str]] = field(default_factory=list)
    wall_s: float = 0.0

    def to_csv(self, path: str | Path) -> None:
        """Write every recorded column to CSV for a spreadsheet or a plot (header names carry units)."""
        columns: dict[str, FloatArray] = {"t_s": self.t_s}
        columns.update({f"{n} [{_UNITS.get(n, '')}]".replace(" []", ""): a for n, a in self.measured.items()})
        columns.update({f"{n}.STATUS": a for n, a in self.status.items() if n in MEASUREMENTS})
        columns.update({f"{n} (command)": a for n, a in self.commanded.items()})
        columns.update({f"true.{n}": a for n, a in self.true.items()})
        with Path(path).open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(columns)
            writer.writerows(zip(*(a.tolist() for a in columns.values()), strict=True))

    def time_in_band(self, signal: str, low: float, high: float) -> float:
        """Fraction of recorded time the true signal stayed within [low, high]."""
        x = self.true[signal]
        return float(np.mean((x >= low) & (x <= high))) if x.size else float("nan")


def run(model: PlantModel, duration_s: float, *, dt_s: float = 1.0, controller: Controller | None = None,
        record_every_s: float | None = None) -> Trajectory:
    """Step `model` for duration_s in steps of dt_s, calling `controller` before each step."""
    import time

    if not dt_s > 0 or not duration_s > 0:
        raise ValueError(f"duration_s and dt_s must be positive (got {duration_s}, {dt_s})")
    n_steps = round(duration_s / dt_s)
    every = max(1, round((record_every_s or dt_s) / dt_s))
    n_rec = (n_steps + every - 1) // every + 1
    names = (*MEASUREMENTS, *FEEDBACK)
    t_rec = np.empty(n_rec)
    meas = {n: np.empty(n_rec) for n in names}
    stat = {n: np.empty(n_rec) for n in names}
    cmd = {n: np.empty(n_rec) for n in COMMANDS}
    true = {n: np.empty(n_rec) for n in TRUE_SIGNALS}
    rejected: list[tuple[float, str, float, str]] = []
    row = 0
    t0 = time.perf_counter()

    def record(readings: dict[str, Reading]) -> None:
        nonlocal row
        t_rec[row] = model.t_s
        for n in names:
            r = readings[n]
            meas[n][row] = r.value
            stat[n][row] = int(r.status)
        for n, v in model.commanded().items():
            cmd[n][row] = v
        ts = model.true_state()
        values = (ts.ph, ts.conductivity_ms_cm, ts.temp_c, ts.level_pct, ts.outflow_m3_h, ts.influent.flow_m3_h,
                  ts.influent.ph, ts.influent.li_mg_l, ts.naoh_delivered_l_h, ts.acid_delivered_l_h,
                  ts.column_outlet_li_mg_l, ts.column_loading_fraction, ts.discharge_ph,
                  *(getattr(ts, n) for n in _FIELD_SIGNALS))
        for n, v in zip(TRUE_SIGNALS, values, strict=True):
            true[n][row] = v
        row += 1

    for k in range(n_steps):
        readings = model.readings()
        if controller is not None:
            commands = controller(model.t_s, readings)
            for name, value in (commands or {}).items():
                try:
                    model.command(name, value)
                except CommandRejected as exc:
                    rejected.append((model.t_s, name, value, str(exc)))
        if k % every == 0:
            record(readings)
        model.step(dt_s)
    record(model.readings())
    wall = time.perf_counter() - t0
    return Trajectory(t_rec[:row], {n: a[:row] for n, a in meas.items()}, {n: a[:row] for n, a in stat.items()},
                      {n: a[:row] for n, a in cmd.items()}, {n: a[:row] for n, a in true.items()}, rejected, wall)


def run_scenario(scenario: Scenario, *, params: SimParams | None = None, plant_file: str | Path | None = None,
                 seed: int | None = None, controller: Controller | None = None, dt_s: float = 1.0,
                 record_every_s: float | None = None) -> Trajectory:
    """Build a model (plant file or params; seed: argument, else the scenario's, else the plant's) and run it."""
    if params is None:
        params = load_sim_params(plant_file) if plant_file is not None else SimParams()
    model = PlantModel(params, seed if seed is not None else scenario.seed, scenario=scenario.player())
    return run(model, scenario.duration_s, dt_s=dt_s, controller=controller, record_every_s=record_every_s)
