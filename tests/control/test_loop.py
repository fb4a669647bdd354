"""A loop's modes, bumpless transfer, rate limit, interlocks and fail-safe, fed samples by hand (pure logic)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from control.events import EventLog, LoopEventKind
from control.loop import FailSafeState, Loop, ModeRefused
from control.state import LoopState
from plantctl.config.models import LoopConfig, LoopMode
from plantctl.quality import Quality
from plantctl.samples import Sample

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CURVE = [[2.0, -10.0], [4.0, 5.0], [6.0, 8.0], [7.0, 9.0], [8.0, 9.5], [10.0, 11.0], [12.0, 20.0]]


def cfg(**over: Any) -> LoopConfig:
    base: dict[str, Any] = dict(
        name="PHC-1", pv="AIT-1", mv=["P-1.SP", "P-2.SP"], setpoint=7.0, setpoint_low=6.0, setpoint_high=8.0,
        kp=10.0, ki=0.1, output_low=-20.0, output_high=100.0, output_rate_per_s=1.0, period_s=1.0,
        mode="MAN", split_range={"dead_band_pct": 2.0, "low_side_gain": 5.0},
        fail_safe={"hold_s": 5.0, "substitute_output": 3.0, "stale_after_s": 4.0},
        interlocks=[
            {"name": "IL-PH-HH", "tag": "AIT-1", "above": 9.0, "deadband": 0.2, "outputs": ["P-1.SP"],
             "on_bad_quality": "ignore"},
            {"name": "IL-PH-LL", "tag": "AIT-1", "below": 5.0, "deadband": 0.2, "outputs": ["P-2.SP"],
             "on_bad_quality": "ignore"},
            {"name": "IL-LEVEL-LL", "tag": "LIT-1", "below": 10.0, "deadband": 2.0},
            {"name": "IL-P1-FAULT", "tag": "P-1.FAULT", "above": 0.5, "action": "force_manual"},
        ],
    )
    base.update(over)
    return LoopConfig.model_validate(base)


class Rig:
    """A loop plus a clock; feeds the PV and the interlock tags every second."""

    def __init__(self, config: LoopConfig) -> None:
        self.log = EventLog()
        self.loop = Loop(config, self.log, "pH")
        self.t = 0.0
        self.aux = {"LIT-1": 50.0, "P-1.FAULT": 0.0}
        self.out: dict[str, float] = {}

    @property
    def now(self) -> datetime:
        return T0 + timedelta(seconds=self.t)

    def feed(self, tag: str, value: float, quality: Quality = Quality.GOOD, age_s: float = 0.0) -> None:
        self.loop.on_sample(Sample(tag, self.now - timedelta(seconds=age_s), value, quality))

    def step(self, pv: float | None = 7.0, quality: Quality = Quality.GOOD) -> dict[str, float]:
        self.t += 1.0
        if pv is not None:
            self.feed("AIT-1", pv, quality)
        for tag, v in self.aux.items():
            self.feed(tag, v)
        self.out = {r.tag: r.value for r in self.loop.execute(self.now, 1.0)}
        return self.out


def auto_rig(**over: Any) -> Rig:
    rig = Rig(cfg(**over))
    rig.step(7.0)
    rig.loop.set_output(4.0, "op", rig.now)
    for _ in range(10):
        rig.step(7.0)
    rig.loop.set_mode(LoopMode.AUTO, "op", rig.now)
    return rig


def test_split_range_sends_positive_output_to_base_pump_and_negative_to_acid_with_dead_band() -> None:
    rig = Rig(cfg())
    rig.step()
    rig.loop.set_output(5.0, "op", rig.now)
    for _ in range(10):
        rig.step()
    assert rig.out == {"P-1.SP": pytest.approx(4.0), "P-2.SP": 0.0}  # 5 % − half band 1 %
    rig.loop.set_output(-3.0, "op", rig.now)
    for _ in range(10):
        rig.step()
    assert rig.out == {"P-1.SP": 0.0, "P-2.SP": pytest.approx(10.0)}  # (3 − 1) × low_side_gain 5
    rig.loop.set_output(0.5, "op", rig.now)
    for _ in range(10):
        rig.step()
    assert rig.out == {"P-1.SP": 0.0, "P-2.SP": 0.0}


def test_manual_output_moves_no_faster_than_the_rate_limit() -> None:
    rig = Rig(cfg())
    rig.step()
    rig.loop.set_output(50.0, "op", rig.now)
    seen = [rig.loop.output]
    for _ in range(5):
        rig.step()
        seen.append(rig.loop.output)
    assert [round(b - a, 9) for a, b in itertools.pairwise(seen)] == [1.0] * 5


def test_man_to_auto_is_bumpless_and_setpoint_tracks_pv_in_man() -> None:
    rig = Rig(cfg())
    rig.step(6.4)
    rig.loop.set_output(4.0, "op", rig.now)
    for _ in range(10):
        rig.step(6.4)
    assert rig.loop.setpoint == pytest.approx(6.4)  # tracked the PV in MAN
    rig.loop.set_mode(LoopMode.AUTO, "op", rig.now)
    rig.step(6.4)
    assert rig.loop.output == pytest.approx(4.0, abs=0.01)


def test_setpoint_and_mode_changes_never_step_the_output_beyond_the_rate_limit() -> None:
    rig = auto_rig()
    before = rig.loop.output
    rig.loop.set_setpoint(8.0, "op", rig.now)  # kp 10 × 1 pH would be a 10 % kick
    outputs = [before]
    for _ in range(5):
        rig.step(7.0)
        outputs.append(rig.loop.output)
    rig.loop.set_mode(LoopMode.MAN, "op", rig.now)
    rig.loop.set_output(-20.0, "op", rig.now)
    for _ in range(3):
        rig.step(7.0)
        outputs.append(rig.loop.output)
    rig.loop.set_mode(LoopMode.AUTO, "op", rig.now)
    for _ in range(3):
        rig.step(7.0)
        outputs.append(rig.loop.output)
    steps = [abs(b - a) for a, b in itertools.pairwise(outputs)]
    assert max(steps) <= 1.0 + 1e-9
    assert outputs[5] > outputs[0]  # it did move toward the new setpoint


def test_auto_refused_while_pv_bad_with_reason() -> None:
    rig = Rig(cfg())
    rig.step(7.0, Quality.BAD_SENSOR_FAILURE)
    with pytest.raises(ModeRefused, match="bad"):
        rig.loop.set_mode(LoopMode.AUTO, "op", rig.now)
    assert rig.log.of(LoopEventKind.MODE_REFUSED)


def test_bad_pv_holds_output_then_substitutes_and_sheds_to_man_and_needs_operator() -> None:
    rig = auto_rig()
    for _ in range(5):
        rig.step(7.0)
    held = rig.loop.output
    integral = rig.loop.integral
    rig.step(7.0, Quality.BAD_SENSOR_FAILURE)  # acts within this one period
    assert rig.loop.fail_safe is FailSafeState.HOLD
    assert rig.log.of(LoopEventKind.FAIL_SAFE_HOLD)
    for _ in range(4):
        rig.step(3.0, Quality.BAD_SENSOR_FAILURE)  # a bad value far off must not drive the PID
        assert rig.loop.output == pytest.approx(held)
        assert rig.loop.integral == pytest.approx(integral)
    rig.step(3.0, Quality.BAD_SENSOR_FAILURE)  # 5 s: hold_s reached
    assert rig.loop.mode is LoopMode.MAN
    assert rig.loop.output == pytest.approx(3.0)  # substitute, not rate-limited
    assert rig.log.of(LoopEventKind.FAIL_SAFE_SUBSTITUTE)
    rig.step(7.0)
    assert rig.loop.mode is LoopMode.MAN  # recovery alone does not return to AUTO
    assert rig.log.of(LoopEventKind.PV_RECOVERED)
    rig.loop.set_mode(LoopMode.AUTO, "op", rig.now)
    assert rig.loop.mode is LoopMode.AUTO


def test_pv_recovered_within_hold_resumes_from_held_output() -> None:
    rig = auto_rig()
    rig.step(7.0, Quality.BAD_COMM_FAILURE)
    held = rig.loop.output
    rig.step(7.0)
    assert rig.loop.mode is LoopMode.AUTO
    assert rig.loop.fail_safe is FailSafeState.NORMAL
    assert rig.loop.output == pytest.approx(held, abs=0.01)


def test_stale_pv_takes_the_fail_safe_path_within_one_period() -> None:
    rig = auto_rig()
    rig.t += 1.0
    rig.feed("AIT-1", 7.0, age_s=4.5)  # older than stale_after_s = 4 s
    for tag, v in rig.aux.items():
        rig.feed(tag, v)
    rig.loop.execute(rig.now, 1.0)
    ev = rig.log.of(LoopEventKind.FAIL_SAFE_HOLD)
    assert ev and "stale" in ev[-1].reason


def test_ph_hh_interlock_stops_base_pump_within_one_period_and_acid_still_works() -> None:
    rig = auto_rig()
    rig.loop.set_setpoint(8.0, "op", rig.now)
    for _ in range(20):
        rig.step(7.0)
    assert rig.out["P-1.SP"] > 0
    rig.step(9.3)
    assert rig.out["P-1.SP"] == 0.0
    trip = rig.log.of(LoopEventKind.INTERLOCK_TRIP)
    assert trip and "IL-PH-HH" in trip[-1].reason and "9.3" in trip[-1].reason
    assert rig.loop.mode is LoopMode.AUTO
    for _ in range(30):
        rig.step(9.3)
    assert rig.out["P-2.SP"] > 0  # the acid side still acts on the high pH
    rig.step(8.7)  # 9.0 − deadband 0.2 = 8.8: clears
    assert rig.log.of(LoopEventKind.INTERLOCK_CLEAR)


def test_level_ll_interlock_stops_all_dosing_within_one_period_and_integral_does_not_wind_up() -> None:
    rig = auto_rig()
    rig.loop.set_setpoint(8.0, "op", rig.now)
    for _ in range(10):
        rig.step(7.0)
    rig.aux["LIT-1"] = 5.0
    rig.step(7.0)
    assert rig.out == {"P-1.SP": 0.0, "P-2.SP": 0.0}
    for _ in range(200):
        rig.step(7.0)
    assert rig.loop.integral < 10.0  # tracked the stopped output instead of integrating the error
    rig.aux["LIT-1"] = 13.0
    rig.step(7.0)
    assert rig.loop.output <= 1.0 + 1e-9  # restarts from 0 at the rate limit


def test_pump_fault_forces_man_at_zero_within_one_period_and_blocks_auto() -> None:
    rig = auto_rig()
    for _ in range(5):
        rig.step(7.0)
    rig.aux["P-1.FAULT"] = 1.0
    rig.step(7.0)
    assert rig.loop.mode is LoopMode.MAN
    assert rig.out == {"P-1.SP": 0.0, "P-2.SP": 0.0}
    with pytest.raises(ModeRefused, match="IL-P1-FAULT"):
        rig.loop.set_mode(LoopMode.AUTO, "op", rig.now)
    rig.aux["P-1.FAULT"] = 0.0
    rig.step(7.0)
    assert rig.loop.mode is LoopMode.MAN  # clearing the fault does not restart the loop by itself


def test_an_interlock_input_arriving_late_at_start_does_not_latch_man() -> None:
    """The pump-fault bit arrives 2 s after the pH: the loop waits in MAN, then takes its start mode."""
    rig = Rig(cfg(mode="AUTO"))
    del rig.aux["P-1.FAULT"]
    rig.step(7.0)
    with pytest.raises(ModeRefused, match=r"no value of P-1\.FAULT yet"):
        rig.loop.set_mode(LoopMode.AUTO, "op", rig.now)
    rig.step(7.0)
    assert rig.loop.mode is LoopMode.MAN and not rig.log.of(LoopEventKind.INTERLOCK_TRIP)
    rig.aux["P-1.FAULT"] = 0.0
    rig.step(7.0)
    assert rig.loop.mode is LoopMode.AUTO
    assert not rig.log.of(LoopEventKind.INTERLOCK_TRIP)


def test_an_interlock_input_never_heard_from_trips_after_stale_after_s() -> None:
    rig = Rig(cfg(mode="AUTO"))  # stale_after_s = 4 s
    del rig.aux["P-1.FAULT"]
    for _ in range(3):
        rig.step(7.0)
    assert not rig.log.of(LoopEventKind.INTERLOCK_TRIP)
    for _ in range(2):
        rig.step(7.0)
    trips = rig.log.of(LoopEventKind.INTERLOCK_TRIP)
    assert trips and "IL-P1-FAULT" in trips[0].reason and "no value yet" in trips[0].reason
    assert rig.loop.mode is LoopMode.MAN and rig.out == {"P-1.SP": 0.0, "P-2.SP": 0.0}
    rig.aux["P-1.FAULT"] = 0.0
    for _ in range(3):
        rig.step(7.0)
    assert rig.loop.mode is LoopMode.MAN  # a trip, even on a missing value, needs the operator


def test_interlock_on_bad_quality_trips_by_default() -> None:
    rig = auto_rig()
    rig.t += 1.0
    rig.feed("AIT-1", 7.0)
    rig.feed("P-1.FAULT", 0.0)
    rig.feed("LIT-1", 50.0, Quality.BAD_COMM_FAILURE)
    out = {r.tag: r.value for r in rig.loop.execute(rig.now, 1.0)}
    assert out == {"P-1.SP": 0.0, "P-2.SP": 0.0}
    assert "bad quality" in rig.log.of(LoopEventKind.INTERLOCK_TRIP)[-1].reason


def test_cas_takes_remote_setpoint_and_sheds_to_auto_when_it_goes_bad() -> None:
    rig = auto_rig(cas_source="AIC-2")
    rig.feed("AIC-2", 7.5)
    rig.step(7.0)
    rig.loop.set_mode(LoopMode.CAS, "op", rig.now)
    rig.feed("AIC-2", 7.6)
    rig.step(7.0)
    assert rig.loop.remote_setpoint == pytest.approx(7.6)
    rig.feed("AIC-2", 7.6, Quality.BAD_NOT_CONNECTED)
    rig.step(7.0)
    assert rig.loop.mode is LoopMode.AUTO
    assert rig.loop.setpoint == pytest.approx(7.6)


def test_snapshot_restore_resumes_bumplessly_in_auto() -> None:
    rig = auto_rig()
    rig.loop.set_setpoint(7.5, "op", rig.now)
    for _ in range(30):
        rig.step(7.1)
    state = LoopState.from_dict(rig.loop.snapshot(rig.now).to_dict())
    before = rig.loop.output
    fresh = Rig(cfg(mode="MAN"))
    fresh.t = rig.t
    fresh.loop.restore(state, fresh.now)
    fresh.step(7.1)
    assert fresh.loop.mode is LoopMode.AUTO
    assert fresh.loop.setpoint == pytest.approx(7.5)
    assert abs(fresh.loop.output - before) <= 1.0 + 1e-9
    assert fresh.log.of(LoopEventKind.RESTORED)


def test_titration_compensation_makes_the_same_base_error_give_the_same_action() -> None:
    """Equal base-demand errors on a flat and a steep part of the curve give equal P action."""
    def p_action(sp: float, pv: float) -> float:
        rig = Rig(cfg(compensation="titration", titration_curve={"points": CURVE}, kp=1.0, ki=0.0,
                      output_rate_per_s=None, setpoint=sp, setpoint_low=2.0, setpoint_high=12.0, interlocks=[]))
        rig.step(pv)
        rig.loop.set_mode(LoopMode.AUTO, "op", rig.now)
        rig.loop.set_setpoint(sp, "op", rig.now)
        rig.step(pv)
        return rig.loop.output
    # 4→6 pH is 3 mmol/L of base; 8→~10 pH is 1.5 mmol/L: the P action follows base, not pH
    assert p_action(6.0, 4.0) == pytest.approx(3.0, abs=1e-6)
    assert p_action(10.0, 8.0) == pytest.approx(1.5, abs=1e-6)


def test_ph_ll_interlock_stops_acid_pump_within_one_period() -> None:
    rig = auto_rig()
    rig.loop.set_setpoint(6.0, "op", rig.now)
    for _ in range(40):
        rig.step(7.5)
    assert rig.out["P-2.SP"] > 0
    rig.step(4.8)
    assert rig.out["P-2.SP"] == 0.0
    assert "IL-PH-LL" in rig.log.of(LoopEventKind.INTERLOCK_TRIP)[-1].reason


def test_gain_schedule_scales_the_gain_by_the_local_slope_of_the_curve() -> None:
    def p_action(pv: float) -> float:
        rig = Rig(cfg(compensation="gain_schedule", titration_curve={"points": CURVE}, kp=1.0, ki=0.0,
                      output_rate_per_s=None, setpoint_low=2.0, setpoint_high=12.0, interlocks=[]))
        rig.step(pv)
        rig.loop.set_mode(LoopMode.AUTO, "op", rig.now)
        rig.loop.set_setpoint(pv + 0.01, "op", rig.now)
        rig.step(pv)
        return rig.loop.output
    # the same pH error on the buffered part (pH 3) acts far harder than on the flat part (pH 8.5)
    assert p_action(3.0) / p_action(8.5) == pytest.approx(_curve_slope(3.0) / _curve_slope(8.5), rel=0.02)


def _curve_slope(ph: float) -> float:
    from control.compensation import TitrationCurve

    c = TitrationCurve([(a, b) for a, b in CURVE])
    return (c.base(ph + 0.005) - c.base(ph - 0.005)) / 0.01


def test_in_man_a_stopped_output_stays_stopped_after_the_interlock_clears() -> None:
    rig = Rig(cfg())
    rig.step(7.0)
    rig.loop.set_output(6.0, "op", rig.now)
    for _ in range(10):
        rig.step(7.0)
    assert rig.out["P-1.SP"] == pytest.approx(5.0)
    rig.aux["LIT-1"] = 5.0
    rig.step(7.0)
    assert rig.out == {"P-1.SP": 0.0, "P-2.SP": 0.0}
    rig.aux["LIT-1"] = 50.0
    for _ in range(5):
        rig.step(7.0)
    assert rig.out == {"P-1.SP": 0.0, "P-2.SP": 0.0}  # the operator restarts dosing, not the interlock
