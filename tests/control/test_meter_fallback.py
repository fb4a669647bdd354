"""A reagent-flow loop whose flowmeter fails, freezes or goes stale keeps dosing on its pump's calibration
(control/meter_fallback.py): closed-loop on the whole plant, and the block's rules on their own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from control import points as control_points
from control.events import EventLog, LoopEventKind
from control.group import LoopGroup
from control.loop import FailSafeState
from control.meter_fallback import MeterFallback
from plantctl.config.models import LoopMode, MeterFallbackConfig
from plantctl.plantfile import load_plant
from plantctl.quality import Quality
from plantctl.samples import Sample
from plantctl.tools.closed_loop import ReturnLoopsToAuto, run_plant_on_scenario
from plantctl.tools.upset_sweep import sim_params
from sim.scenario import Scenario, SensorEvent, ShockEvent, ShockLoad
from tests.control.test_strategy_blocks import DIVERSION, LOOPS, _feed, _plant

ROOT = Path(__file__).resolve().parents[2]
PLANT = ROOT / "examples" / "plant.yaml"
WARM_S = 900.0
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _meter_out(meter: str, fault: str, slug_ph: float, slug_m3_h: float) -> Scenario:
    """The meter fails (or freezes) and, while it is out, an acid slug changes the reagent demand."""
    slug = ShockLoad(duration_s=2400.0, ph=slug_ph, flow_m3_h=slug_m3_h)
    events = (SensorEvent.model_validate({"at": WARM_S + 300.0, "sensor": meter, fault: True}),
              ShockEvent(at=WARM_S + 600.0, shock_load=slug),
              SensorEvent.model_validate({"at": WARM_S + 3600.0, "sensor": meter, "recover": True}))
    return Scenario(f"{meter}-{fault}", "", WARM_S + 5400.0, 7, events)


@pytest.mark.slow
@pytest.mark.parametrize(("meter", "fault", "slug_ph", "slug_m3_h", "tank"),
                         [("FIT-401", "fail", 1.5, 10.0, "t401"), ("FIT-201", "stuck", 2.0, 8.0, "t101")])
def test_a_lost_flowmeter_keeps_the_pump_dosing_on_its_calibration(meter: str, fault: str, slug_ph: float,
                                                                   slug_m3_h: float, tank: str) -> None:
    # Without the fall-back: FIT-401 failed → FC-401 held then stopped P-401, T-401 1926 s out of 6-9 and 76 % of
    # the flow diverted; FIT-201 frozen → FC-201 wound P-201 up, T-101 2968 s out of 6-9.
    loop = {"FIT-201": "FC-201", "FIT-401": "FC-401"}[meter]
    attentive = ReturnLoopsToAuto(load_plant(PLANT))
    outputs: list[tuple[float, float]] = []

    def operator(t_s: float, group: LoopGroup) -> None:  # the shift operator, and a pen on the loop's output
        attentive(t_s, group)
        outputs.append((t_s, group.loops[loop].output))

    r = run_plant_on_scenario(PLANT, _meter_out(meter, fault, slug_ph, slug_m3_h),
                              sim_params=sim_params(PLANT, 3.0, {}), count_from_s=WARM_S, record_every_s=2.0,
                              operator=operator)
    f = r.figures
    fell = [e for e in r.events.of(LoopEventKind.METER_FALLBACK) if e.loop == loop]
    back = [e for e in r.events.of(LoopEventKind.METER_RESTORED) if e.loop == loop]
    assert len(fell) == 1 and meter in fell[0].reason, [e.reason for e in r.events.events]
    repaired = T0 + timedelta(seconds=WARM_S + 3600.0)
    assert len(back) == 1 and repaired < back[0].ts <= repaired + timedelta(seconds=120)  # after the repair
    assert not r.events.of(LoopEventKind.FAIL_SAFE_HOLD)  # no loop held its output and then stopped the pump
    assert f["offspec_discharged_l"] == 0.0, r.line()
    assert f["diverted_l"] <= 0.01 * f["influent_l"], r.line()  # the last stage held: (almost) nothing diverted
    assert f[f"out_of_band_{tank}_s"] == 0.0, r.line()  # the stage whose reagent meter was lost stayed in 6-9
    # back on the meter without a bump: the loop's output (the operator ran just before each period) continues
    at = (back[0].ts - T0).total_seconds()
    before = next(u for t, u in reversed(outputs) if t <= at)
    after = next(u for t, u in outputs if t > at)
    assert after == pytest.approx(before, abs=1.0), (before, after)


class _Rig:
    def __init__(self, **cfg: float) -> None:
        self.log = EventLog()
        self.block = MeterFallback("FC-201", "FIT-201", "P-201.SP", MeterFallbackConfig(flow_per_pct=2.5, **cfg),
                                   10.0, self.log)

    def period(self, k: int, meter: float | None, speed: float, quality: Quality = Quality.GOOD) -> Sample | None:
        now = T0 + timedelta(seconds=k)
        if meter is not None:
            self.block.on_sample(Sample("FIT-201", now, meter, quality))
        return self.block.substitute(now, speed)


def test_a_bad_meter_gives_the_calibrated_flow_as_uncertain_and_returns_after_return_s() -> None:
    rig = _Rig(return_s=30.0)
    assert rig.period(0, 50.0, 20.0) is None
    sub = rig.period(1, 0.0, 20.0, Quality.BAD_SENSOR_FAILURE)
    assert sub is not None and sub.value == pytest.approx(50.0) and sub.quality is Quality.UNCERTAIN
    assert "FIT-201 bad" in sub.reason
    for k in range(2, 10):
        assert rig.period(k, 0.0, 24.0, Quality.BAD_SENSOR_FAILURE) is not None
    for k in range(10, 39):  # Good again, but not yet for return_s
        assert rig.period(k, 60.0 + k % 2, 24.0) is not None
    assert rig.period(40, 60.0, 24.0) is None
    assert [e.kind for e in rig.log.events] == [LoopEventKind.METER_FALLBACK, LoopEventKind.METER_RESTORED]


def test_a_stale_meter_falls_back() -> None:
    rig = _Rig()
    rig.period(0, 50.0, 20.0)
    assert all(rig.period(k, None, 20.0) is None for k in range(1, 11))  # 10 s old: still usable
    sub = rig.period(11, None, 20.0)
    assert sub is not None and "stale" in sub.reason


def test_a_frozen_reading_is_caught_only_when_the_speed_moved() -> None:
    rig = _Rig(frozen_s=60.0, moved_pct=5.0)
    for k in range(0, 120):  # constant reading, constant speed: nothing to judge it by
        assert rig.period(k, 50.0, 20.0) is None
    subs = [rig.period(k, 50.0, 20.0 + (k - 120) * 0.1) for k in range(120, 200)]
    first = next(i for i, s in enumerate(subs) if s is not None)
    assert 40 <= first <= 61  # once the speed has moved 5 % within the window
    assert subs[first] is not None and "has not moved from 50" in subs[first].reason
    # still frozen though Good: it stays on the calibration, whatever the speed does
    assert all(rig.period(k, 50.0, 28.0) is not None for k in range(200, 300))
    # it moves again: back on it after return_s
    back = [rig.period(k, 50.0 + (k % 3), 28.0) for k in range(300, 340)]
    assert back[0] is not None and back[-1] is None


def test_a_live_meter_following_the_speed_is_never_replaced() -> None:
    rig = _Rig()
    rng = np.random.default_rng(3)
    for k in range(600):
        speed = 20.0 + 10.0 * np.sin(k / 50.0)
        assert rig.period(k, speed * 2.5 * 0.5 + float(rng.normal(0, 0.3)), speed) is None  # a worn pump: half
    assert not rig.log.events


def test_the_group_doses_on_the_calibration_and_publishes_the_alarm_point(tmp_path: Path) -> None:
    loops = LOOPS.replace("deviation_alarm: {limit: 15}}", "deviation_alarm: {limit: 15},\n"
                          "     meter_fallback: {flow_per_pct: 2.5, return_s: 20}}")
    plant = load_plant(_plant(tmp_path, loops, DIVERSION))
    log = EventLog()
    group = LoopGroup(plant, log)
    published: list[Sample] = []
    points = control_points.ControlPoints(published.extend, plant)
    fc = group.loops["FC-1"]
    speeds: list[float] = []

    def run(ks: range, fit: float | None, ph: float) -> None:
        for k in ks:
            now = T0 + timedelta(seconds=k)
            _feed(group, now, {"AIT-1": ph, "AIT-2": ph + 0.01 * (k % 3), "AIT-3": ph, "AIT-9": 7.0,
                               "FIT-1": fit if fit is None else fit + 0.1 * (k % 2), "LIT-5": 10.0, "FIT-0": 5.0})
            for req in group.execute(now, 1.0):
                if req.tag == "P-1.SP":
                    speeds.append(req.value)
            points.update(group, now)

    run(range(0, 120), 0.0, 6.5)  # acid: PHC-1 asks for NaOH, the meter reads none (so FC-1 winds the pump up)
    run(range(120, 240), 50.0, 6.5)
    assert fc.mode is LoopMode.CAS and not group.fallbacks["FC-1"].active
    run(range(240, 400), None, 6.5)  # FIT-1 fails
    last = {s.tag: s for s in published}
    assert last["SYS.CONTROL.FC-1.METER_FALLBACK"].value == 1.0 and "FIT-1 bad" in last[
        "SYS.CONTROL.FC-1.METER_FALLBACK"].reason
    assert fc.mode is LoopMode.CAS and fc.fail_safe is FailSafeState.NORMAL  # no hold, no shed to MAN
    assert speeds[-1] == pytest.approx(fc.remote_setpoint / 2.5, rel=0.02)  # speed = setpoint ÷ calibration
    run(range(400, 430), 50.0, 6.5)
    last = {s.tag: s for s in published}
    assert last["SYS.CONTROL.FC-1.METER_FALLBACK"].value == 0.0
    assert [e.kind for e in log.events if e.loop == "FC-1" and "METER" in e.kind.name] == [
        LoopEventKind.METER_FALLBACK, LoopEventKind.METER_RESTORED]
