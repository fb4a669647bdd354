"""Closed loop on the whole plant: the discharge electrode AIT-410 fails or drifts; T-401's three electrodes
outvote it (XV-410's outvote:), so the plant keeps discharging in spec instead of diverting everything."""

from __future__ import annotations

from pathlib import Path

import pytest

from control.events import LoopEventKind
from plantctl.tools.closed_loop import run_plant_on_scenario
from plantctl.tools.upset_sweep import sim_params
from sim.scenario import Scenario, SensorEvent, ShockEvent, ShockLoad

PLANT = Path(__file__).resolve().parents[2] / "examples" / "plant.yaml"
WARM_S = 1800.0


@pytest.mark.slow
@pytest.mark.parametrize(("fault", "start_h"), [({"fail": True}, 4.97), ({"drift_per_h": -3.6}, 3.46)])
def test_a_lost_discharge_electrode_does_not_divert_the_plant(fault: dict[str, object], start_h: float) -> None:
    # the sweep's discharge-analyser seeds 0 and 2: before, 99 % and 77 % of the flow went to the holding tank
    events = (SensorEvent.model_validate({"at": WARM_S + 60.0, "sensor": "AIT-410", **fault}),
              ShockEvent(at=WARM_S + 1500.0, shock_load=ShockLoad(duration_s=2500.0, ph=2.35, flow_m3_h=6.1)))
    sc = Scenario("ait410", "", WARM_S + 3 * 3600.0, 5, events)
    r = run_plant_on_scenario(PLANT, sc, sim_params=sim_params(PLANT, start_h, {}), count_from_s=WARM_S,
                              record_every_s=5.0)
    f = r.figures
    assert f["offspec_discharged_l"] == 0.0, r.line()
    assert f["diverted_l"] <= 0.05 * f["influent_l"], r.line()
    assert [e.data.get("electrode") for e in r.events.of(LoopEventKind.DISCHARGE_OUTVOTED)] == ["AIT-410"]
