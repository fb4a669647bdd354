"""The shipped plant (both stages, votes, flow cascades, diversion) closed around the headless simulator."""

from __future__ import annotations

import numpy as np
import pytest

from control.events import LoopEventKind
from plantctl.plantfile import load_plant
from plantctl.tools.closed_loop import (
    EPOCH,
    PlantRunResult,
    loop_config,
    run_plant_on_scenario,
    scenario_window,
)
from sim.params import load_sim_params
from sim.scenario import load_scenario

PLANT = "examples/plant.yaml"
UPSET = "examples/scenarios/upset-day.yaml"


def _at(res: PlantRunResult, kind: LoopEventKind, loop: str, text: str = "") -> list[float]:
    return [(e.ts - EPOCH).total_seconds() for e in res.events.of(kind) if e.loop == loop and text in e.reason]


@pytest.fixture(scope="module")
def upset() -> PlantRunResult:
    return run_plant_on_scenario(PLANT, UPSET, record_every_s=5.0)


@pytest.mark.slow
def test_the_upset_day_discharges_nothing_off_spec(upset: PlantRunResult) -> None:
    """Pump trip, acid excursion, the 09:30 slug, the failed and the drifting electrode, the Modbus drop."""
    f = upset.figures
    assert f["offspec_discharged_l"] == 0.0, upset.line()
    assert f["diverted_l"] <= 0.05 * f["influent_l"], upset.line()
    assert f["discharged_l"] > 0.9 * f["influent_l"], upset.line()  # and it did discharge


@pytest.mark.slow
def test_a_failed_electrode_leaves_the_vote_and_the_loop_keeps_control(upset: PlantRunResult) -> None:
    removed = [e for e in upset.events.of(LoopEventKind.ELECTRODE_REMOVED)
               if e.loop == "PHC-101" and e.data.get("electrode") == "AIT-101"]
    assert removed and removed[0].data.get("fault") == "bad_quality"
    assert (removed[0].ts - EPOCH).total_seconds() == pytest.approx(12 * 3600, abs=2.0)
    assert not _at(upset, LoopEventKind.FAIL_SAFE_HOLD, "PHC-101")  # two electrodes carried the loop
    back = [e for e in upset.events.of(LoopEventKind.ELECTRODE_READMITTED) if e.data.get("electrode") == "AIT-101"]
    assert back and (back[0].ts - EPOCH).total_seconds() > 12 * 3600 + 20 * 60  # after the 12:20 repair


@pytest.mark.slow
def test_pump_trip_forces_the_flow_loop_to_man_at_zero_and_is_journaled(upset: PlantRunResult) -> None:
    trips = _at(upset, LoopEventKind.INTERLOCK_TRIP, "FC-201", "P201-FAULT")
    assert trips
    assert [e for e in upset.events.of(LoopEventKind.MODE_CHANGE)
            if e.loop == "FC-201" and "P201-FAULT" in e.reason and e.data["new"] == "MAN"]
    i = int(np.searchsorted(upset.traj.t_s, trips[0] + 5))
    assert upset.traj.commanded["P-201.SP"][i] == 0.0


@pytest.mark.slow
def test_a_loop_on_one_electrode_holds_then_substitutes_and_waits_for_the_operator() -> None:
    """Without its vote PHC-101 takes the single-electrode fail-safe: hold, then the substitute in MAN."""
    start_h = 11.5
    sc = scenario_window(load_scenario(UPSET), start_h, 12.75)
    params = load_sim_params(PLANT).model_copy(update={"start_time_h": start_h})
    res = run_plant_on_scenario(PLANT, sc, sim_params=params, record_every_s=5.0, overrides={"PHC-101": {
        "voted_with": [], "fail_safe": {"hold_s": 300, "substitute_output": 1.0, "stale_after_s": 10}}})
    fail_s = (12 - start_h) * 3600
    hold = _at(res, LoopEventKind.FAIL_SAFE_HOLD, "PHC-101")
    sub = _at(res, LoopEventKind.FAIL_SAFE_SUBSTITUTE, "PHC-101")
    assert hold[0] == pytest.approx(fail_s, abs=2.0)
    assert sub[0] == pytest.approx(hold[0] + 300, abs=1.5)
    shed = [e for e in res.events.of(LoopEventKind.MODE_CHANGE) if e.loop == "PHC-101" and "fail-safe" in e.reason]
    assert shed and shed[0].data["new"] == "MAN"
    back = [e for e in res.events.of(LoopEventKind.MODE_CHANGE) if e.loop == "PHC-101"
            and e.actor.startswith("operator") and (e.ts - EPOCH).total_seconds() > sub[0]]
    assert back, "the simulated operator returned the loop to AUTO"
    t_back = (back[0].ts - EPOCH).total_seconds()
    assert t_back >= fail_s + 20 * 60  # not before the electrode was replaced (12:20)
    t = res.traj.t_s
    window = (t > sub[0] + 60) & (t < t_back - 5)
    # substitute 1 % of output = 0.9 % of NaOH flow (half the 0.2 % dead band off) = 2.25 L/h through FC-201:
    # below P-201's 5 % turndown, so pulsed at 5 % for 0.9/5 of each 30 s cycle
    sp = res.traj.commanded["P-201.SP"][window]
    assert set(np.unique(np.round(sp, 6))) <= {0.0, 5.0}
    assert float(np.mean(sp)) == pytest.approx(0.9, abs=0.35)


@pytest.mark.slow
def test_pumps_started_late_by_the_operator_release_no_wound_up_dose() -> None:
    """The loops are in AUTO from the start, the pumps are started an hour later by the operator.

    A pump that is not running is an output the loop cannot move: held at 0, integral tracking. Without
    that the output winds up and the start dumps it into the tank.
    """
    start_s = 3600.0
    plant = load_plant(PLANT)

    def without_stopped(name: str) -> dict[str, object]:
        return {"interlocks": [i.model_dump() for i in loop_config(plant, name).interlocks if "STOPPED" not in i.name]}

    def run(overrides: dict[str, dict[str, object]] | None) -> tuple[float, float]:
        res = run_plant_on_scenario(PLANT, "examples/scenarios/normal-day.yaml", overrides=overrides,
                                    duration_s=start_s + 2 * 3600, start_pumps_at_s=start_s, record_every_s=5.0)
        t = res.traj.t_s
        first = int(np.searchsorted(t, start_s))
        return float(res.traj.commanded["P-201.SP"][first]), float(res.traj.true["ph"][t > start_s].max())

    sp_at_start, peak = run(None)
    assert sp_at_start == 0.0 and peak < 7.5
    sp_wound_up, peak_wound_up = run({"PHC-101": without_stopped("PHC-101"), "FC-201": without_stopped("FC-201")})
    assert sp_wound_up > 20.0 and peak_wound_up > 9.0  # the same plant without the running interlocks


@pytest.mark.slow
def test_a_frozen_control_electrode_is_voted_out_and_one_electrode_alone_is_not_enough() -> None:
    """AIT-101 stuck GOOD at 10:00 under the rising load: middle of three takes it out in ≤ 120 s."""
    start_h = 9.5
    sc = scenario_window(load_scenario("examples/scenarios/frozen-electrode.yaml"), start_h, 11.0)
    params = load_sim_params(PLANT).model_copy(update={"start_time_h": start_h})
    res = run_plant_on_scenario(PLANT, sc, sim_params=params, record_every_s=5.0)
    removed = [e for e in res.events.of(LoopEventKind.ELECTRODE_REMOVED) if e.data.get("electrode") == "AIT-101"]
    assert removed and removed[0].data.get("fault") == "frozen"
    assert 0.0 < (removed[0].ts - EPOCH).total_seconds() - (10 - start_h) * 3600 <= 120.0
    assert res.figures["out_of_band_t101_s"] == 0.0
    alone = run_plant_on_scenario(PLANT, sc, sim_params=params, record_every_s=5.0,
                                  overrides={"PHC-101": {"voted_with": []}})
    assert alone.figures["iae_t101_ph_s"] > 2 * res.figures["iae_t101_ph_s"]  # one electrode misleads the loop
