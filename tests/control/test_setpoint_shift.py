"""Squeeze and shift (control/setpoint_shift.py): the working setpoint approaches the limit slowly while the
loop's deviations toward it are small, never nearer than its margin, and goes back when they grow, on a doubt
or out of AUTO. The block alone, inside a Loop, the plant file's check, and closed on the whole plant."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from control.events import EventLog, LoopEventKind
from control.loop import Loop
from control.setpoint_shift import SetpointShift
from plantctl.config.models import LoopConfig, LoopMode, SetpointShiftConfig
from plantctl.quality import Quality
from plantctl.samples import Sample
from plantctl.tools.closed_loop import run_plant_on_scenario
from sim.scenario import Scenario, SensorEvent

ROOT = Path(__file__).resolve().parents[2]
PLANT = ROOT / "examples" / "plant.yaml"
T0 = datetime(2026, 3, 1, tzinfo=UTC)
CFG = SetpointShiftConfig(limit=6.3, min_margin=0.45, max_shift=0.5, sigmas=4, window_s=600, approach_per_s=0.001,
                          retreat_per_s=0.01)


def _run(shift: SetpointShift, seconds: int, pv: Any, sp: float = 7.0, start: int = 0,
         doubt: str | None = None) -> list[float]:
    out = []
    for k in range(start, start + seconds):
        w = shift.working if shift.working is not None else sp
        out.append(shift.step(T0 + timedelta(seconds=k), pv(k, w), sp, 1.0, doubt))
    return out


def test_a_quiet_loop_moves_its_working_setpoint_to_the_margin_slowly_and_no_further() -> None:
    shift = SetpointShift(CFG)
    learning = _run(shift, 600, lambda k, w: w + 0.01)  # deviations only away from the limit
    assert learning[-1] == 7.0 and shift.doubt is not None and "learning" in shift.doubt
    w = _run(shift, 1200, lambda k, w: w + 0.01, start=600)
    steps = [b - a for a, b in itertools.pairwise(w)]
    assert min(steps) >= -0.001 - 1e-12  # approach_per_s
    assert w[-1] == pytest.approx(6.75)  # limit 6.3 + min_margin 0.45, reached and held
    assert shift.doubt is None


def test_dips_toward_the_limit_keep_it_further_away() -> None:
    shift = SetpointShift(CFG)
    w = _run(shift, 3000, lambda k, w: w - 0.15 * (k % 2))  # dips of 0.15 every other second
    # rising 10x faster than it falls, the estimate settles where (0.0225 - ms)/60 = ms/600: above the plain
    # RMS (0.106) of the dips, a bound rather than an average
    assert shift.rms == pytest.approx((0.0225 * 10 / 11) ** 0.5, rel=0.03)
    assert w[-1] == pytest.approx(6.3 + 4 * shift.rms, abs=0.002)  # 4 RMS: more than min_margin 0.45
    assert 6.8 < w[-1] < 6.9


def test_growing_dips_send_it_back_quickly_but_ramped() -> None:
    shift = SetpointShift(CFG)
    _run(shift, 2000, lambda k, w: w)
    assert shift.working == pytest.approx(6.75)
    w = _run(shift, 60, lambda k, w: w - 0.3, start=2000)  # an acid slug: 0.3 below the working setpoint
    assert w[-1] > 6.9  # the margin grew past the operator's setpoint within a minute
    steps = [b - a for a, b in itertools.pairwise(w)]
    assert max(steps) <= 0.01 + 1e-12  # retreat_per_s: no step that would kick the dose


def test_a_doubt_returns_it_to_the_operators_setpoint_and_learning_starts_again() -> None:
    shift = SetpointShift(CFG)
    _run(shift, 2000, lambda k, w: w)
    assert shift.working == pytest.approx(6.75)
    w = _run(shift, 40, lambda k, w: w, start=2000, doubt="AIT-402 out of the vote")
    assert w[-1] == pytest.approx(7.0)
    assert shift.doubt == "AIT-402 out of the vote"
    w = _run(shift, 300, lambda k, w: w, start=2040)  # healthy again: it learns for window_s before moving
    assert w[-1] == pytest.approx(7.0)


def test_while_the_pv_is_far_on_the_other_side_the_working_setpoint_waits() -> None:
    """Returning raises the dose: not while the tank overshoots away from the limit, only once it is back."""
    shift = SetpointShift(CFG)
    _run(shift, 2000, lambda k, w: w)
    assert shift.working == pytest.approx(6.75)
    w = _run(shift, 60, lambda k, w: 8.3, start=2000, doubt="AIT-402 out of the vote")  # 1.55 above it
    assert w[-1] == pytest.approx(6.75)
    w = _run(shift, 60, lambda k, w: 7.0, start=2060, doubt="AIT-402 out of the vote")  # back near it
    assert w[-1] == pytest.approx(7.0)


def test_never_beyond_the_operators_setpoint_and_it_follows_the_operator() -> None:
    shift = SetpointShift(CFG)
    w = _run(shift, 2000, lambda k, w: w, sp=6.6)  # the operator already below the shift's nearest point
    assert max(w) == pytest.approx(6.6) and min(w) == pytest.approx(6.6)
    w = _run(shift, 1, lambda k, w: w, sp=7.5, start=2000)  # the operator raises it: followed at once
    assert w[-1] == pytest.approx(7.5 - 0.001)  # (the offset, none at 6.6, starts growing)
    w = _run(shift, 1000, lambda k, w: w, sp=7.5, start=2001)
    assert w[-1] == pytest.approx(7.0)  # then grows to max_shift: 0.5 below the operator's 7.5
    w = _run(shift, 1, lambda k, w: w, sp=6.9, start=3001)  # lowered: never inside min_margin of the limit
    assert w[-1] == pytest.approx(6.75)
    high = SetpointShift(SetpointShiftConfig(limit=8.7, min_margin=0.5, max_shift=1.0, window_s=60,
                                             approach_per_s=0.01))
    w = _run(high, 400, lambda k, w: w, sp=7.5)  # a limit above: it moves up, to 8.2
    assert w[-1] == pytest.approx(8.2)


def _loop_cfg(**over: Any) -> LoopConfig:
    base: dict[str, Any] = {
        "name": "PHC-9", "pv": "AIT-9A", "voted_with": ["AIT-9B", "AIT-9C"], "mv": ["P-9.SP"], "setpoint": 7.0,
        "setpoint_low": 6.5, "setpoint_high": 8.0, "kp": 5.0, "ki": 0.01, "mode": "AUTO",
        "fail_safe": {"hold_s": 600, "stale_after_s": 10},
        "setpoint_shift": {"limit": 6.3, "min_margin": 0.45, "max_shift": 0.5, "window_s": 300,
                           "approach_per_s": 0.002}}
    return LoopConfig.model_validate({**base, **over})


def test_a_loop_controls_to_its_working_setpoint_and_an_electrode_out_of_the_vote_ends_the_shift() -> None:
    log = EventLog()
    loop = Loop(_loop_cfg(), log, pv_unit="pH")
    pv = 7.0
    for k in range(1, 900):
        now = T0 + timedelta(seconds=k)
        pv += 0.2 * (loop.working_setpoint - pv)  # a PV that follows the setpoint it is given
        bad = k > 700
        for tag in ("AIT-9A", "AIT-9B"):
            loop.on_sample(Sample(tag, now, pv))
        loop.on_sample(Sample("AIT-9C", now, 0.0, Quality.BAD_SENSOR_FAILURE) if bad else Sample("AIT-9C", now, pv))
        loop.execute(now, 1.0)
        if k == 700:
            assert loop.mode is LoopMode.AUTO
            assert loop.working_setpoint == pytest.approx(6.75)
            assert loop.setpoint == 7.0  # the operator's setpoint is left alone
    assert loop.working_setpoint == pytest.approx(7.0)
    shifts = [e for e in log.events if e.kind is LoopEventKind.SETPOINT_SHIFT]
    assert "moving from 7 toward 6.3" in shifts[0].reason
    assert any("AIT-9C out of the vote" in e.reason for e in shifts[1:])


def test_a_spare_that_disagrees_with_the_vote_ends_the_shift_before_any_electrode_is_out() -> None:
    """The discharge electrode drifting low in the same water: the shift must not wait for a removal (the
    divert limit is nearer than it was at the operator's setpoint)."""
    log = EventLog()
    loop = Loop(_loop_cfg(vote_spare="AIT-9S"), log, pv_unit="pH")
    pv = 7.0
    for k in range(1, 1100):
        now = T0 + timedelta(seconds=k)
        pv += 0.2 * (loop.working_setpoint - pv)
        for tag in ("AIT-9A", "AIT-9B", "AIT-9C"):
            loop.on_sample(Sample(tag, now, pv))
        loop.on_sample(Sample("AIT-9S", now, pv - max(k - 700, 0) * 0.001))  # drifts 3.6 pH/h from 700 s
        loop.execute(now, 1.0)
        if k == 700:
            assert loop.working_setpoint == pytest.approx(6.75)
    assert loop.voter is not None and loop.voter.in_vote == ("AIT-9A", "AIT-9B", "AIT-9C")  # nobody out
    assert loop.working_setpoint == pytest.approx(7.0)
    back = [e for e in log.events if e.kind is LoopEventKind.SETPOINT_SHIFT and "returning" in e.reason]
    assert len(back) == 1, [e.reason for e in back]  # said once, not every period while it returns
    # 0.15 from the vote after 150 s, and for spare_delay_s (60 s): a swing's tens of seconds do not count
    assert 700 + 150 + 60 <= (back[0].ts - T0).total_seconds() <= 700 + 150 + 60 + 3


def test_out_of_auto_the_working_setpoint_is_the_operators() -> None:
    loop = Loop(_loop_cfg(voted_with=[]), EventLog())
    for k in range(1, 700):
        now = T0 + timedelta(seconds=k)
        loop.on_sample(Sample("AIT-9A", now, loop.working_setpoint))
        loop.execute(now, 1.0)
    assert loop.working_setpoint < 7.0
    loop.set_mode(LoopMode.MAN, "op", T0 + timedelta(seconds=700))
    assert loop.working_setpoint == 7.0


@pytest.mark.parametrize(("shift", "why"), [
    ({"limit": 6.3, "min_margin": 0.1, "max_shift": 1}, "must lie within the setpoint limits"),  # 6.4 < 6.5
    ({"limit": 7.0, "min_margin": 0.2, "max_shift": 1}, "away from the setpoint"),
])
def test_a_shift_that_could_never_hold_its_nearest_point_is_refused(shift: dict[str, float], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        _loop_cfg(setpoint_shift=shift)


@pytest.mark.slow
def test_closed_on_the_plant_the_discharge_stage_runs_shifted_and_returns_when_an_electrode_fails() -> None:
    """PHC-401 on a quiet window shifts toward XV-410's low limit; AIT-402 frozen takes the shift off within
    a few minutes; no water leaves off-spec, none is diverted after start-up."""
    sc = Scenario("shift", "AIT-402 frozen at 3 h", 4.0 * 3600.0, 4242,
                  (SensorEvent(at=3.0 * 3600.0, sensor="AIT-402", stuck=True),))
    r = run_plant_on_scenario(PLANT, sc, label="shift", record_every_s=2.0)
    ts, ws = r.working_setpoints["PHC-401"]
    before = ws[(ts > 2.5 * 3600) & (ts < 3.0 * 3600)]
    after = ws[ts > 3.0 * 3600 + 600]
    assert before.max() < 6.8  # shifted toward 6.3 (nearest 6.75)
    assert after.min() == pytest.approx(7.0)  # AIT-402 out of the vote: back at the operator's 7.0
    assert r.figures["offspec_discharged_l"] == 0.0
    assert r.figures["iae_plant_sp_ph_s"] > r.figures["iae_t401_ph_s"]  # it held the working setpoint
    assert any(e.kind is LoopEventKind.SETPOINT_SHIFT and "AIT-402" in e.reason for e in r.events.events)
