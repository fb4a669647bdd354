"""The headless runner: controller hook order, refused commands recorded, CSV export."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from sim.headless import run
from sim.interface import Reading
from sim.model import PlantModel
from sim.params import SimParams


def test_controller_sees_readings_and_its_commands_act() -> None:
    seen: list[float] = []

    def controller(t_s: float, readings: dict[str, Reading]) -> dict[str, float]:
        seen.append(t_s)
        if t_s == 10.0:
            return {"P-201.RUN": 1.0, "P-201.SP": 20.0, "P-202.SP": 140.0}  # the last one is refused
        return {}

    model = PlantModel(SimParams(), seed=1)
    traj = run(model, 60.0, dt_s=1.0, controller=controller)
    assert seen == [float(t) for t in range(60)]
    assert model.t_s == 60.0 and len(traj.t_s) == 61
    assert [(t, name) for t, name, _, _ in traj.rejected] == [(10.0, "P-202.SP")]
    k = int(np.flatnonzero(traj.t_s == 10.0)[0])
    assert traj.commanded["P-201.SP"][k] == 20.0 and traj.commanded["P-201.SP"][k - 1] == 0.0
    assert traj.measured["P-201.SPEED"][k + 1] == 20.0  # running from the next step on
    assert traj.true["naoh_delivered_l_h"][k + 19] == 0.0  # the dosing line's 20 s dead time
    assert traj.true["naoh_delivered_l_h"][k + 20] == 50.0


def test_recording_can_be_thinned_and_written_to_csv(tmp_path: Path) -> None:
    traj = run(PlantModel(SimParams(), seed=1), 600.0, dt_s=1.0, record_every_s=60.0)
    assert list(traj.t_s) == [float(t) for t in range(0, 601, 60)]
    out = tmp_path / "run.csv"
    traj.to_csv(out)
    with out.open() as fh:
        rows = list(csv.reader(fh))
    assert rows[0][:3] == ["t_s", "FIT-100 [m3/h]", "AIT-100 [pH]"]
    assert "AIT-101.STATUS" in rows[0] and "true.ph" in rows[0] and "P-201.SP (command)" in rows[0]
    assert len(rows) == 1 + len(traj.t_s)
    assert float(rows[-1][rows[0].index("true.ph")]) == traj.true["ph"][-1]
