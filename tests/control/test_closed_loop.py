"""The shipped pH loop closed around the headless simulator on the upset-day scenario (faster than real time)."""

from __future__ import annotations

import numpy as np
import pytest

from control.events import LoopEventKind
from control.voting import VoteEventKind
from plantctl.plantfile import load_plant
from plantctl.tools.closed_loop import EPOCH, ClosedLoopResult, loop_config, run_loop_on_scenario
from sim.interface import SensorStatus

PLANT = "examples/plant.yaml"
UPSET = "examples/scenarios/upset-day.yaml"


@pytest.fixture(scope="module")
def upset() -> ClosedLoopResult:
    return run_loop_on_scenario(PLANT, UPSET, record_every_s=5.0)


@pytest.mark.slow
def test_compensated_loop_keeps_ph_in_permit_except_while_the_sensor_is_failed(upset: ClosedLoopResult) -> None:
    """Through the pump trip, the 09:30 slug (both edges), the rinse-water switch, the electrode drift."""
    t, ph = upset.traj.t_s, upset.traj.true["ph"]
    failed = upset.traj.status["AIT-101"] == int(SensorStatus.FAILED)
    out = ((ph < 6.0) | (ph > 9.0)) & ~failed
    assert not np.any(out), f"out of 6–9 at t = {t[out][:5]} s (pH {ph[out][:5]})"
    assert upset.figures["time_out_of_band_s_sensor_ok"] == 0.0
    assert failed.any()


@pytest.mark.slow
def test_sensor_failure_takes_the_fail_safe_path_visibly(upset: ClosedLoopResult) -> None:
    holds = upset.events.of(LoopEventKind.FAIL_SAFE_HOLD)
    recovered = upset.events.of(LoopEventKind.PV_RECOVERED)
    assert holds and "AIT-101" in holds[0].reason and "bad" in holds[0].reason
    t_hold = (holds[0].ts - upset.events.events[0].ts).total_seconds()
    assert t_hold == pytest.approx(12 * 3600, abs=2.0)  # within one period of the 12:00 failure
    assert recovered and recovered[0].ts > holds[0].ts


@pytest.mark.slow
def test_pump_trip_forces_man_at_zero_and_is_journaled(upset: ClosedLoopResult) -> None:
    trips = [e for e in upset.events.of(LoopEventKind.INTERLOCK_TRIP) if "P201-FAULT" in e.reason]
    assert trips
    modes = [e for e in upset.events.of(LoopEventKind.MODE_CHANGE) if "P201-FAULT" in e.reason]
    assert modes and modes[0].data["new"] == "MAN"
    t = upset.traj.t_s
    i = np.searchsorted(t, (trips[0].ts - upset.events.events[0].ts).total_seconds() + 5)
    assert upset.traj.commanded["P-201.SP"][i] == 0.0


@pytest.mark.slow
def test_failure_beyond_hold_time_substitutes_sheds_to_man_and_waits_for_the_operator() -> None:
    res = run_loop_on_scenario(PLANT, UPSET, overrides={"fail_safe": {"hold_s": 300, "substitute_output": 1.0,
                                                                      "stale_after_s": 10}},
                               duration_s=12.5 * 3600, record_every_s=5.0)
    t0 = res.events.events[0].ts

    def at(kind: LoopEventKind) -> list[float]:
        return [(e.ts - t0).total_seconds() for e in res.events.of(kind)]

    hold, sub = at(LoopEventKind.FAIL_SAFE_HOLD), at(LoopEventKind.FAIL_SAFE_SUBSTITUTE)
    assert hold[0] == pytest.approx(12 * 3600, abs=2.0)
    assert sub[0] == pytest.approx(hold[0] + 300, abs=1.5)
    shed = [e for e in res.events.of(LoopEventKind.MODE_CHANGE) if "fail-safe" in e.reason]
    assert shed and shed[0].data["new"] == "MAN"
    back = [e for e in res.events.of(LoopEventKind.MODE_CHANGE)
            if e.actor.startswith("operator") and (e.ts - t0).total_seconds() > sub[0]]
    assert back, "the simulated operator returned the loop to AUTO"
    t_back = (back[0].ts - t0).total_seconds()
    assert t_back >= 12 * 3600 + 20 * 60  # not before the electrode was replaced (12:20)
    t = res.traj.t_s
    window = (t > sub[0] + 5) & (t < t_back - 5)
    # substitute 1 % of output = P-201 at 0.9 % (1 % − half the 0.2 % dead band), held in MAN
    assert np.allclose(res.traj.commanded["P-201.SP"][window], 0.9, atol=1e-6)


@pytest.mark.slow
def test_pumps_started_late_by_the_operator_release_no_wound_up_dose() -> None:
    """The loop is in AUTO from the start, the pumps are started an hour later by the operator.

    A pump that is not running is an output the loop cannot move: held at 0, integral tracking.
    Without that the output winds up (to full scale here) and the start dumps it into the tank.
    The hour, not the demo plant's half-hour: T-101 starts full of neutralised water whose bicarbonate
    (open to air, TIC from the influent) holds it near pH 6.6 for the first 30 min, so the error seen
    by the integral is small at first; by 60 min the pH is near 6.1 and the output is at 100 %.
    """
    start_s = 3600.0
    plant = load_plant(PLANT)
    shipped = loop_config(plant, "PHC-101")
    without = {"interlocks": [i.model_dump() for i in shipped.interlocks if "STOPPED" not in i.name]}

    def run(overrides: dict[str, object] | None) -> tuple[float, float]:
        res = run_loop_on_scenario(PLANT, "examples/scenarios/normal-day.yaml", overrides=overrides,
                                   duration_s=start_s + 2 * 3600, start_pumps_at_s=start_s, record_every_s=5.0)
        t = res.traj.t_s
        first = int(np.searchsorted(t, start_s))
        return float(res.traj.commanded["P-201.SP"][first]), float(res.traj.true["ph"][t > start_s].max())

    sp_at_start, peak = run(None)
    assert sp_at_start == 0.0 and peak < 7.5
    sp_wound_up, peak_wound_up = run(without)
    assert sp_wound_up > 20.0 and peak_wound_up > 9.0  # the same plant without the running interlocks


@pytest.mark.slow
def test_an_electrode_frozen_at_a_good_value_is_voted_out_and_the_tank_stays_in_band() -> None:
    """AIT-101 stuck GOOD 10:00-11:00 under the rising load: middle of three takes it out in ≤ 120 s.

    On AIT-101 alone the same loop doses for the frozen reading and T-101 leaves 6-9 (1830 s, seed 1503).
    """
    res = run_loop_on_scenario(PLANT, "examples/scenarios/frozen-electrode.yaml", duration_s=13 * 3600,
                               record_every_s=5.0, vote=("AIT-101", "AIT-104", "AIT-105"))
    removed = [e for e in res.vote_events if e.electrode == "AIT-101" and e.kind is VoteEventKind.REMOVED]
    assert removed and "frozen" in removed[0].reason
    assert 0.0 < (removed[0].ts - EPOCH).total_seconds() - 10 * 3600 <= 120.0
    assert res.figures["time_out_of_band_s"] == 0.0
    alone = run_loop_on_scenario(PLANT, "examples/scenarios/frozen-electrode.yaml", duration_s=13 * 3600,
                                 record_every_s=5.0)
    assert alone.figures["time_out_of_band_s"] > 600.0  # the upset is real: one electrode is not enough
