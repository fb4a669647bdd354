"""Feedforward from the influent's own titration, its adapted gain, and feedback that can take it all back."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from control.compensation import TitrationCurve
from control.events import EventLog
from control.feedforward import Feedforward, InfluentDemand
from control.loop import Loop
from control.state import LoopState
from plantctl.config import ConfigError
from plantctl.config.models import FeedforwardConfig, LoopConfig, LoopMode
from plantctl.plantfile import load_plant
from plantctl.quality import Quality
from plantctl.samples import Sample
from sim.chemistry import LI_G_MOL, NA_G_MOL, Invariants, base_for_ph, mg_l_to_mol_l, sulfate_for_ph

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TANK = [[1.5, -50.0], [2.5, 0.0], [4.0, 12.5], [6.0, 14.3], [7.0, 16.3], [8.0, 17.0], [9.0, 17.2], [11.0, 21.1]]
INFLUENT = {"reference_ph": 7.0, "points": [[1.5, 97.0], [2.0, 39.8], [2.5, 16.3], [3.0, 7.6], [4.0, 3.7]]}


def influent_demand_from_chemistry(ph_in: float, li_mg_l: float = 450.0) -> float:
    """Base (mmol/L) that brings the simulator's influent of this pH to 7.0: the simulator's own chemistry."""
    na, li = mg_l_to_mol_l(250.0, NA_G_MOL), mg_l_to_mol_l(li_mg_l, LI_G_MOL)
    sulfate = sulfate_for_ph(ph_in, na + li, 0.004, 0.005, 22.0)
    return 1000.0 * base_for_ph(7.0, Invariants(na, li, sulfate, 0.004, 0.005), 22.0)


def test_shipped_influent_titration_is_the_influent_chemistry() -> None:
    """The plant file's points match the simulator's influent titrated to pH 7 (between points as well)."""
    loop = load_plant("examples/plant.yaml").loops[0]
    assert loop.feedforward is not None and loop.feedforward.influent_titration is not None
    it = loop.feedforward.influent_titration
    demand = InfluentDemand(it.reference_ph, it.points)
    for ph_in in (1.6, 1.9, 2.4, 2.9, 3.7):
        assert demand(ph_in) == pytest.approx(influent_demand_from_chemistry(ph_in), rel=0.03)


def test_shipped_tank_curve_is_the_nominal_influent_chemistry() -> None:
    """The plant file's tank curve is the simulator's nominal influent (pH 2.5) titrated, between points too."""
    curve = load_plant("examples/plant.yaml").loops[0].titration_curve
    assert curve is not None
    tank = TitrationCurve([(p[0], p[1]) for p in curve.points])
    na, li = mg_l_to_mol_l(250.0, NA_G_MOL), mg_l_to_mol_l(450.0, LI_G_MOL)
    nominal = Invariants(na, li, sulfate_for_ph(2.5, na + li, 0.004, 0.005, 22.0), 0.004, 0.005)
    for ph in (1.1, 1.7, 3.2, 4.7, 6.2, 6.85, 7.3, 8.7, 10.2):
        want = 1000.0 * base_for_ph(ph, nominal, 22.0)
        assert tank.base(ph) == pytest.approx(want, rel=0.03, abs=0.15)


def test_tank_curve_alone_underestimates_an_acid_influent() -> None:
    """Why the influent needs its own curve: its sulfate buffers as HSO4- below pH 2.

    The shipped tank curve reaches a lower pH with strong acid; the influent gets there with sulfuric
    acid, part of which stays HSO4- and must be neutralised too. The shortfall grows as the influent
    gets more acid and passes a quarter by pH 1.25 (with activities HSO4- dissociates more than in an
    ideal solution: 24.5 % at pH 1.5, where the ideal chemistry gave 31 %).
    """
    curve = load_plant("examples/plant.yaml").loops[0].titration_curve
    assert curve is not None
    tank = TitrationCurve([(p[0], p[1]) for p in curve.points])
    ratios = [(tank.base(7.0) - tank.base(ph)) / influent_demand_from_chemistry(ph) for ph in (2.0, 1.75, 1.5, 1.25)]
    assert all(r < 1.0 for r in ratios)
    assert all(b < a for a, b in itertools.pairwise(ratios))
    assert ratios[-1] < 0.75


def test_influent_demand_is_monotone_and_never_negative() -> None:
    d = InfluentDemand(7.0, INFLUENT["points"])
    grid = [1.0 + 0.05 * i for i in range(120)]
    values = [d(p) for p in grid]
    assert all(b <= a for a, b in itertools.pairwise(values))
    assert d(1.5) == pytest.approx(97.0) and d(2.5) == pytest.approx(16.3)
    assert d(1.0) > 97.0 and d(6.9) >= 0.0


def test_feedforward_demand_shifts_with_the_setpoint_along_the_tank_curve() -> None:
    ff = Feedforward(FeedforwardConfig.model_validate(
        {"flow_tag": "FIT-1", "influent_ph_tag": "AIT-0", "pct_per_mol_h": 0.1, "influent_titration": INFLUENT}),
        TitrationCurve(TANK))
    assert ff.demand_mmol_l(7.0, 2.0) == pytest.approx(39.8)
    tank = TitrationCurve(TANK)
    assert ff.demand_mmol_l(6.5, 2.0) == pytest.approx(39.8 + tank.base(6.5) - tank.base(7.0))
    assert ff.base_pump_pct(6.0, 7.0, 2.0) == pytest.approx(0.1 * 6.0 * 39.8)


@pytest.mark.parametrize(("influent", "message"), [
    ({"reference_ph": 7.0, "points": [[1.5, 97.0], [2.0, 99.0], [3.0, 7.6]]}, "base must fall as pH rises"),
    ({"reference_ph": 7.0, "points": [[2.0, 39.8], [1.5, 97.0], [3.0, 7.6]]}, "must rise point by point"),
    ({"reference_ph": 7.0, "points": [[1.5, 97.0], [2.0, 39.8]]}, "at least 3"),
])
def test_bad_influent_titration_names_its_line(tmp_path: Path, influent: dict[str, Any], message: str) -> None:
    text = Path("examples/plant.yaml").read_text(encoding="utf-8")
    start = text.index("      influent_titration:\n")
    end = text.index("      # Lithium (and the sulfate")
    bad = tmp_path / "plant.yaml"
    bad.write_text(text[:start] + f"      influent_titration: {influent}\n" + text[end:], encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_plant(bad)
    line = next(i for i, ln in enumerate(bad.read_text(encoding="utf-8").splitlines(), 1)
                if "influent_titration:" in ln)
    assert f"plant.yaml:{line}:" in str(exc.value) and message in str(exc.value)


def test_adapt_limits_must_bracket_one() -> None:
    with pytest.raises(ValueError, match="gain_low"):
        FeedforwardConfig.model_validate({"flow_tag": "FIT-1", "demand_mmol_l": 10, "pct_per_mol_h": 0.1,
                                          "adapt": {"gain_low": 1.2, "gain_high": 2.0}})


# --- the loop: a toy tank in base equivalents, whose influent needs more base than the model says -----------


def loop_cfg(**over: Any) -> LoopConfig:
    base: dict[str, Any] = dict(
        name="PHC-1", pv="AIT-1", mv=["P-1.SP", "P-2.SP"], setpoint=7.0, setpoint_low=6.0, setpoint_high=8.0,
        compensation="titration", titration_curve={"points": TANK}, kp=16.0, ki=0.06,
        output_low=-4.0, output_high=100.0, output_rate_per_s=10.0, period_s=1.0, mode="AUTO",
        split_range={"dead_band_pct": 0.2, "low_side_gain": 25.0},
        feedforward={"flow_tag": "FIT-1", "influent_ph_tag": "AIT-0", "pct_per_mol_h": 0.0656,
                     "influent_titration": INFLUENT,
                     "adapt": {"time_s": 600.0, "gain_low": 0.5, "gain_high": 2.0, "min_pct": 5.0}},
        fail_safe={"hold_s": 600.0, "substitute_output": 0.0, "stale_after_s": 10.0},
    )
    base.update(over)
    return LoopConfig.model_validate(base)


class ToyTank:
    """CSTR in base equivalents: V dx/dt = Q (x_in − x) + dose; x_in set by a true demand ≠ the model's."""

    def __init__(self, loop: Loop, true_demand_factor: float, flow: float = 8.0, ph_in: float = 2.0) -> None:
        self.loop, self.factor, self.flow, self.ph_in = loop, true_demand_factor, flow, ph_in
        self.curve = TitrationCurve(TANK)
        self.x = self.curve.base(7.0)
        self.t = 0.0
        self.pv_quality = Quality.GOOD

    def demand(self) -> float:
        return self.factor * InfluentDemand(7.0, INFLUENT["points"])(self.ph_in)

    def step(self) -> float:
        """One second: feed samples, execute, apply the base dose; returns the controller output (%)."""
        now = T0 + timedelta(seconds=self.t)
        ph = self.curve.ph(self.x)
        for tag, v in (("AIT-1", ph), ("FIT-1", self.flow), ("AIT-0", self.ph_in)):
            self.loop.on_sample(Sample(tag, now, v, self.pv_quality if tag == "AIT-1" else Quality.GOOD))
        reqs = {r.tag: r.value for r in self.loop.execute(now, 1.0)}
        base_mol_h = reqs.get("P-1.SP", 0.0) / 0.0656 - reqs.get("P-2.SP", 0.0) * 25.0 / 0.0656
        volume_l, q_l_s = 5000.0, self.flow / 3.6
        x_in = self.curve.base(7.0) - self.demand()  # the influent, in the tank curve's equivalents
        self.x += (q_l_s * (x_in - self.x) + base_mol_h * 1000.0 / 3600.0) / volume_l
        self.t += 1.0
        return self.loop.output


def test_adaptation_moves_a_persistent_integral_into_the_feedforward_gain() -> None:
    loop = Loop(loop_cfg(), EventLog(), "pH")
    tank = ToyTank(loop, true_demand_factor=1.4)
    for _ in range(4 * 3600):
        tank.step()
    assert loop.feedforward_gain == pytest.approx(1.4, abs=0.05)
    assert abs(loop.integral) < 0.05 * loop.feedforward_output
    assert abs(tank.curve.ph(tank.x) - 7.0) < 0.05


def test_no_learning_from_an_uncertain_pv() -> None:
    """A drifting electrode reads UNCERTAIN: feedback still uses it, the feedforward gain learns nothing."""
    loop = Loop(loop_cfg(), EventLog(), "pH")
    tank = ToyTank(loop, true_demand_factor=1.4)
    tank.pv_quality = Quality.UNCERTAIN
    for _ in range(3600):
        tank.step()
    assert loop.feedforward_gain == 1.0 and loop.mode is LoopMode.AUTO
    assert loop.integral > 0.2 * loop.feedforward_output  # the integral carries the error instead


def test_with_the_learnt_gain_a_load_drop_overdoses_far_less_than_an_integral_offset() -> None:
    """A slug ends: an integral carrying 40 % of the dose keeps dosing it; a learnt ratio scales down."""
    def peak_after_drop(adapt: bool) -> float:
        over = {} if adapt else {"feedforward": {**loop_cfg().feedforward.model_dump(), "adapt": None}}  # type: ignore[union-attr]
        loop = Loop(loop_cfg(**over), EventLog(), "pH")
        tank = ToyTank(loop, true_demand_factor=1.4, flow=9.0, ph_in=1.5)
        for _ in range(4 * 3600):
            tank.step()
        tank.flow, tank.ph_in = 7.5, 2.0
        peak = 0.0
        for _ in range(1800):
            tank.step()
            peak = max(peak, tank.curve.ph(tank.x))
        return peak

    with_adapt, without = peak_after_drop(True), peak_after_drop(False)
    assert with_adapt < 7.2 and without > 7.6


def test_adaptation_does_not_move_the_output() -> None:
    loop = Loop(loop_cfg(), EventLog(), "pH")
    tank = ToyTank(loop, true_demand_factor=1.4)
    for _ in range(600):
        tank.step()
    gains, steps = [], []
    for _ in range(600):
        before = loop.output
        g = loop.feedforward_gain
        tank.step()
        gains.append(loop.feedforward_gain - g)
        steps.append(abs(loop.output - before))
    assert sum(gains) > 0.01  # it was adapting all along
    assert max(steps) < 1.0  # yet the output moved only as feedback moved it: no jumps


def test_feedback_can_take_back_a_feedforward_that_overdoses() -> None:
    """With limits fixed at output_low, feedback could remove only 4 % of a 40 % feedforward."""
    loop = Loop(loop_cfg(feedforward={"flow_tag": "FIT-1", "demand_mmol_l": 80.0, "pct_per_mol_h": 0.0656}),
                EventLog(), "pH")
    for k in range(300):
        now = T0 + timedelta(seconds=k)
        for tag, v in (("AIT-1", 8.5), ("FIT-1", 8.0)):
            loop.on_sample(Sample(tag, now, v))
        reqs = {r.tag: r.value for r in loop.execute(now, 1.0)}
    assert loop.feedforward_output > 40.0
    assert loop.output == pytest.approx(-4.0) and reqs["P-1.SP"] == 0.0
    assert reqs["P-2.SP"] == pytest.approx((4.0 - 0.1) * 25.0)


def test_learnt_gain_survives_a_restart() -> None:
    loop = Loop(loop_cfg(), EventLog(), "pH")
    tank = ToyTank(loop, true_demand_factor=1.3)
    for _ in range(3600):
        tank.step()
    now = T0 + timedelta(seconds=tank.t)
    state = LoopState.from_dict(loop.snapshot(now).to_dict())
    assert state.feedforward_gain == pytest.approx(loop.feedforward_gain) and state.feedforward_gain > 1.1
    again = Loop(loop_cfg(), EventLog(), "pH")
    again.restore(state, now)
    assert again.feedforward_gain == pytest.approx(state.feedforward_gain)
    assert again.mode is LoopMode.MAN  # AUTO again once the PV is usable, as every restore


def test_state_saved_before_adaptation_existed_restores_with_gain_one() -> None:
    d = LoopState("PHC-1", LoopMode.AUTO, 7.0, 20.0, 5.0, T0).to_dict()
    del d["feedforward_gain"]
    assert LoopState.from_dict(d).feedforward_gain == 1.0


def test_acid_pump_waits_for_its_permissive_and_the_integral_does_not_wind_up() -> None:
    """Below `low_side_above_pv` the acidic influent lowers the pH for free: no acid, however negative the output."""
    split = {"dead_band_pct": 0.2, "low_side_gain": 25.0, "low_side_above_pv": 7.5}
    loop = Loop(loop_cfg(split_range=split, feedforward=None), EventLog(), "pH")

    def run(pv: float, seconds: int, start: int) -> dict[str, float]:
        reqs: dict[str, float] = {}
        for k in range(start, start + seconds):
            loop.on_sample(Sample("AIT-1", T0 + timedelta(seconds=k), pv))
            reqs = {r.tag: r.value for r in loop.execute(T0 + timedelta(seconds=k), 1.0)}
        return reqs

    below = run(7.3, 600, 0)  # above the setpoint 7.0, under the permissive
    assert below == {"P-1.SP": 0.0, "P-2.SP": 0.0}
    assert abs(loop.output) <= 0.1 and loop.integral > -2.0  # held in the dead band, not wound up to −4 %
    above = run(8.2, 60, 600)
    assert above["P-2.SP"] > 50.0 and above["P-1.SP"] == 0.0
