"""The reagent-flow loop (kind flow): pulsed turndown without limit cycling, and the deviation alarm.

The pump here is a pure function (speed → flow with a dead zone below its minimum effective speed):
a unit test of the loop's logic, not of a pump.
"""

from __future__ import annotations

import itertools
import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from control.events import EventLog, LoopEventKind
from control.flow_law import FlowLaw
from control.loop import Loop
from plantctl.config.models import LoopConfig
from plantctl.quality import Quality
from plantctl.samples import Sample

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MIN_SPEED = 8.0  # % : below it the pump delivers nothing


def flow_cfg(**over: Any) -> LoopConfig:
    base: dict[str, Any] = dict(
        name="FIC-201", kind="flow", pv="FIT-201", mv=["P-201.SP"], setpoint=10.0, setpoint_low=0.0,
        setpoint_high=250.0, kp=0.02, ki=0.01, output_low=0.0, output_high=100.0, period_s=1.0, mode="AUTO",
        turndown={"min_speed_pct": MIN_SPEED, "cycle_s": 30.0},
        deviation_alarm={"limit": 20.0, "delay_s": 60.0},
        fail_safe={"hold_s": 30.0, "stale_after_s": 5.0})
    base.update(over)
    return LoopConfig.model_validate(base)


class PumpRig:
    """The loop closed around a pump whose flow lags the speed by one period."""

    def __init__(self, cfg: LoopConfig, l_h_per_pct: float = 2.5) -> None:
        self.log = EventLog()
        self.loop = Loop(cfg, self.log, "L/h")
        self.l_h_per_pct = l_h_per_pct
        self.speed = 0.0
        self.t = 0.0
        self.flows: list[float] = []
        self.speeds: list[float] = []
        self.outputs: list[float] = []

    def pump_flow(self, speed: float) -> float:
        return 0.0 if speed < MIN_SPEED else self.l_h_per_pct * speed

    def run(self, seconds: int) -> None:
        for _ in range(seconds):
            self.t += 1.0
            now = T0 + timedelta(seconds=self.t)
            flow = self.pump_flow(self.speed)
            self.flows.append(flow)
            self.loop.on_sample(Sample("FIT-201", now, flow, Quality.GOOD))
            reqs = self.loop.execute(now, 1.0)
            self.speed = reqs[0].value
            self.speeds.append(self.speed)
            self.outputs.append(self.loop.output)


def test_below_the_turndown_the_pump_is_pulsed_and_the_average_flow_holds_the_setpoint() -> None:
    rig = PumpRig(flow_cfg())  # 10 L/h needs 4 % speed: half the minimum
    rig.run(1800)
    assert not any(0.0 < s < MIN_SPEED for s in rig.speeds[-600:])  # never where it delivers nothing
    cycles = [statistics.fmean(rig.flows[i:i + 30]) for i in range(len(rig.flows) - 600, len(rig.flows), 30)]
    assert all(abs(c - 10.0) < 1.0 for c in cycles), cycles
    assert max(rig.outputs[-600:]) - min(rig.outputs[-600:]) < 0.05  # the controller output has settled


def test_without_turndown_handling_the_same_loop_limit_cycles() -> None:
    rig = PumpRig(flow_cfg(turndown=None))
    rig.run(1800)
    last = rig.speeds[-600:]
    crossings = sum(1 for a, b in itertools.pairwise(last) if (a < MIN_SPEED) != (b < MIN_SPEED))
    assert crossings > 100  # the integral keeps crossing the minimum: a limit cycle
    assert any(0.0 < s < MIN_SPEED for s in last)  # the pump is run where it delivers nothing


def test_above_the_turndown_the_speed_is_continuous() -> None:
    rig = PumpRig(flow_cfg(setpoint=100.0))
    rig.run(600)
    assert rig.speeds[-1] == pytest.approx(40.0, abs=0.5)
    assert abs(rig.flows[-1] - 100.0) < 1.0
    assert isinstance(rig.loop.law, FlowLaw) and not rig.loop.law.pulsing


def test_an_air_lock_raises_the_deviation_alarm_and_clears_when_the_flow_returns() -> None:
    rig = PumpRig(flow_cfg(setpoint=100.0))
    rig.run(300)
    assert not rig.log.of(LoopEventKind.FLOW_DEVIATION)
    rig.l_h_per_pct = 0.0  # air in the head: the pump turns, nothing flows
    rig.run(50)
    assert not rig.log.of(LoopEventKind.FLOW_DEVIATION)  # not before the delay
    rig.run(30)
    [ev] = rig.log.of(LoopEventKind.FLOW_DEVIATION)
    assert "air lock" in ev.reason and "FIT-201 = 0" in ev.reason
    rig.l_h_per_pct = 2.5
    rig.run(300)
    assert len(rig.log.of(LoopEventKind.FLOW_DEVIATION_CLEARED)) == 1


def test_a_worn_pump_that_cannot_reach_the_setpoint_is_reported_short() -> None:
    rig = PumpRig(flow_cfg(setpoint=200.0), l_h_per_pct=1.25)  # half its capacity: 125 L/h at 100 %
    rig.run(300)
    assert rig.speeds[-1] == 100.0
    [ev] = rig.log.of(LoopEventKind.FLOW_DEVIATION)
    assert "flow short" in ev.reason and "FIT-201 = 1" in ev.reason
    assert rig.loop.law.integral <= 100.0  # no windup beyond the limit


@pytest.mark.parametrize(("over", "why"), [
    ({"split_range": {"dead_band_pct": 1.0}, "mv": ["A.SP", "B.SP"], "output_low": -5.0},
     "kind flow takes no split_range"),
    ({"compensation": "titration", "titration_curve": {"points": [[2, 0], [7, 5], [12, 9]]}},
     "kind flow takes no titration_curve, compensation"),
    ({"mv": []}, "kind flow drives one pump"),
    ({"kind": "ph"}, "turndown:, deviation_alarm: and meter_fallback: belong to kind flow, not ph"),
    ({"kind": "ratio"}, "Input should be 'ph' or 'flow'"),
])
def test_kind_parts_are_checked(over: dict[str, Any], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        flow_cfg(**over)


@settings(max_examples=80, deadline=None)
@given(st.floats(min_value=0.05, max_value=MIN_SPEED - 0.05), st.integers(0, 29))
def test_a_pulsed_cycle_delivers_on_average_the_speed_asked_for(u: float, offset_s: int) -> None:
    law = FlowLaw(flow_cfg(), lambda *_a: None)
    start = T0 + timedelta(seconds=offset_s)
    speeds = [law.allocate(start + timedelta(seconds=k), u, None, frozenset()).values[0][1] for k in range(30)]
    assert set(speeds) <= {0.0, MIN_SPEED}
    assert statistics.fmean(speeds) == pytest.approx(u, abs=MIN_SPEED / 30 + 1e-9)  # one period's resolution
    assert law.allocate(start, u, None, frozenset({"P-201.SP"})).values == (("P-201.SP", 0.0),)
