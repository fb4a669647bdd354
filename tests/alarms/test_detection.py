"""Detection against recorded sequences: deadband stops chatter, on-delay ignores short excursions, off-delay holds."""

from __future__ import annotations

from plantctl.alarms.engine import AlarmEngine
from plantctl.alarms.states import AlarmEvent, AlarmState
from plantctl.quality import Quality
from plantctl.samples import Sample

from .recorded import alarm, at, recorded


def _run(engine: AlarmEngine, samples: list[Sample]) -> list[tuple[str, AlarmEvent, float]]:
    """Feed one sample at a time (as a live source would); (alarm, event, seconds after T0) of each transition."""
    out = []
    for s in samples:
        out += engine.process([s], s.ts)
    return [(t.alarm, t.event, (t.ts - at(0)).total_seconds()) for t in out]


def test_without_deadband_noise_at_the_limit_chatters() -> None:
    engine = AlarmEngine([alarm(name="AIT-101.H", tag="AIT-101", type="H", limit=9.0)])
    events = _run(engine, recorded("ph_noise_at_limit.csv", "AIT-101"))
    # 9.02, 9.03, 9.01, 9.04, 9.02 each rise to ≥ 9.0 after a value below it
    assert [e for e in events if e[1] is AlarmEvent.ACTIVATE] == [
        ("AIT-101.H", AlarmEvent.ACTIVATE, s) for s in (2, 4, 6, 8, 10)]
    assert len([e for e in events if e[1] is AlarmEvent.CLEAR]) == 5


def test_deadband_suppresses_the_chatter() -> None:
    engine = AlarmEngine([alarm(name="AIT-101.H", tag="AIT-101", type="H", limit=9.0, deadband=0.1)])
    events = _run(engine, recorded("ph_noise_at_limit.csv", "AIT-101"))
    # in at 9.02 (t=2); the dips to 8.93–8.97 stay above 9.0 − 0.1; out at 8.85 (t=11)
    assert events == [("AIT-101.H", AlarmEvent.ACTIVATE, 2), ("AIT-101.H", AlarmEvent.CLEAR, 11)]


def test_on_delay_ignores_a_short_excursion_and_off_delay_holds_through_a_dip() -> None:
    engine = AlarmEngine([alarm(name="LIT-101.HH", tag="LIT-101", type="HH", limit=95,
                                      on_delay_s=5, off_delay_s=3)])
    events = _run(engine, recorded("level_spike.csv", "LIT-101"))
    # the 3 s splash (t=1..3) does not alarm; the high level from t=6 alarms at 6 + 5 = 11;
    # the fall at t=13 is undone at t=14; from t=15 it stays low and clears at 15 + 3 = 18
    assert events == [("LIT-101.HH", AlarmEvent.ACTIVATE, 11), ("LIT-101.HH", AlarmEvent.CLEAR, 18)]


def test_the_same_level_sequence_without_delays_alarms_on_the_splash() -> None:
    engine = AlarmEngine([alarm(name="LIT-101.HH", tag="LIT-101", type="HH", limit=95)])
    events = _run(engine, recorded("level_spike.csv", "LIT-101"))
    assert [s for _, e, s in events if e is AlarmEvent.ACTIVATE] == [1, 6, 14]


def test_tick_completes_an_on_delay_when_no_new_sample_comes() -> None:
    engine = AlarmEngine([alarm(name="LIT-101.HH", tag="LIT-101", type="HH", limit=95, on_delay_s=5)])
    assert engine.process([Sample("LIT-101", at(0), 97.0)], at(0)) == []
    assert engine.tick(at(4.9)) == []
    [t] = engine.tick(at(7))
    assert (t.event, t.ts, t.value) == (AlarmEvent.ACTIVATE, at(5), 97.0)


def test_bad_quality_alarm_with_on_delay_and_limit_alarms_hold_on_bad_values() -> None:
    engine = AlarmEngine([
        alarm(name="AIT-101.BAD", tag="AIT-101", type="bad_quality", on_delay_s=2),
        alarm(name="AIT-101.L", tag="AIT-101", type="L", limit=6.5),
    ])
    events = _run(engine, recorded("ph_probe_failure.csv", "AIT-101"))
    # glitch t=1..2 (< 2 s) ignored; failure from t=10 alarms at 12; the 0.0 pH of a Bad sample raises no L alarm
    assert events == [("AIT-101.BAD", AlarmEvent.ACTIVATE, 12)]
    assert engine.status("AIT-101.BAD").quality is Quality.BAD_SENSOR_FAILURE


def test_deviation_from_the_loop_setpoint() -> None:
    setpoints = {"AIC-101": 7.0}
    engine = AlarmEngine([alarm(name="AIC-101.DEV", tag="AIT-101", type="deviation", limit=0.5,
                                      deadband=0.1, loop="AIC-101")], setpoint=setpoints.get)
    seq = [(0, 7.2), (1, 7.6), (2, 7.45), (3, 7.35)]
    events = _run(engine, [Sample("AIT-101", at(t), v) for t, v in seq])
    assert events == [("AIC-101.DEV", AlarmEvent.ACTIVATE, 1), ("AIC-101.DEV", AlarmEvent.CLEAR, 3)]
    setpoints["AIC-101"] = 6.5  # the operator lowers the setpoint: 7.35 is now 0.85 off
    assert _run(engine, [Sample("AIT-101", at(4), 7.35)]) == [("AIC-101.DEV", AlarmEvent.ACTIVATE, 4)]
    del setpoints["AIC-101"]  # loop state unknown: hold, neither raise nor clear
    assert _run(engine, [Sample("AIT-101", at(5), 6.5)]) == []


def test_rate_of_change_in_eu_per_minute() -> None:
    engine = AlarmEngine([alarm(name="AIT-101.ROC", tag="AIT-101", type="rate_of_change", limit=1.0)])
    # 10 s apart: +0.1 → 0.6 pH/min; +0.3 → 1.8 pH/min; +0.1 → 0.6 pH/min
    seq = [(0, 7.0), (10, 7.1), (20, 7.4), (30, 7.5)]
    events = _run(engine, [Sample("AIT-101", at(t), v) for t, v in seq])
    assert events == [("AIT-101.ROC", AlarmEvent.ACTIVATE, 20), ("AIT-101.ROC", AlarmEvent.CLEAR, 30)]


def test_discrete_pump_fault() -> None:
    engine = AlarmEngine([alarm(name="P-201.FAULT", tag="P-201.FAULT", type="discrete", limit=1)])
    events = _run(engine, [Sample("P-201.FAULT", at(t), v) for t, v in [(0, 0), (1, 1), (2, 1), (3, 0)]])
    assert events == [("P-201.FAULT", AlarmEvent.ACTIVATE, 1), ("P-201.FAULT", AlarmEvent.CLEAR, 3)]


def test_designed_suppression_while_the_tank_is_nearly_empty() -> None:
    engine = AlarmEngine([alarm(name="CIT-101.H", tag="CIT-101", type="H", limit=50.0,
                                      suppress_when={"tag": "LIT-101", "below": 15})])
    t = engine.process([Sample("LIT-101", at(0), 10.0)], at(0))
    assert [(x.event, x.new_state) for x in t] == [(AlarmEvent.SUPPRESS, AlarmState.DSUPR)]
    engine.process([Sample("CIT-101", at(1), 80.0, )], at(1))  # dry conductivity cell reads nonsense
    assert engine.status("CIT-101.H").state is AlarmState.DSUPR
    t = engine.process([Sample("LIT-101", at(2), 20.0)], at(2))
    assert [(x.event, x.new_state) for x in t] == [(AlarmEvent.UNSUPPRESS, AlarmState.UNACK)]
    engine.process([Sample("LIT-101", at(3), 10.0)], at(3))
    t = engine.process([Sample("LIT-101", at(4), 10.0, Quality.BAD_SENSOR_FAILURE)], at(4))
    assert [x.event for x in t] == [AlarmEvent.UNSUPPRESS], "an unknown level must not hide alarms"


def test_samples_older_than_the_last_are_ignored_and_counted() -> None:
    engine = AlarmEngine([alarm(name="AIT-101.H", tag="AIT-101", type="H", limit=9.0)])
    engine.process([Sample("AIT-101", at(5), 8.0)], at(5))
    assert engine.process([Sample("AIT-101", at(4), 9.5)], at(5)) == []
    assert engine.stats.stale_samples == 1


def test_a_setpoint_change_reevaluates_deviation_at_once() -> None:
    setpoints = {"AIC-101": 7.0}
    engine = AlarmEngine([alarm(name="AIC-101.DEV", tag="AIT-101", type="deviation", limit=0.5, loop="AIC-101"),
                          alarm(name="AIT-101.H", tag="AIT-101", type="H", limit=8.5)], setpoint=setpoints.get)
    engine.process([Sample("AIT-101", at(0), 7.2)], at(0))
    setpoints["AIC-101"] = 8.0  # 7.2 is now 0.8 below the new setpoint
    assert _run_setpoint(engine, "AIC-101", 3) == [("AIC-101.DEV", AlarmEvent.ACTIVATE, 3)]
    assert _run_setpoint(engine, "OTHER-LOOP", 4) == []


def _run_setpoint(engine: AlarmEngine, loop: str, seconds: float) -> list[tuple[str, AlarmEvent, float]]:
    return [(t.alarm, t.event, (t.ts - at(0)).total_seconds()) for t in engine.setpoint_changed(loop, at(seconds))]
