"""Engine-level operator actions and timers: acknowledge many, shelve expiry, re-alarm, latching, restore."""

from __future__ import annotations

import pytest

from plantctl.alarms.engine import AlarmEngine
from plantctl.alarms.states import AlarmEvent, AlarmRefused, AlarmState, Transition
from plantctl.samples import Sample

from .recorded import alarm, at


def _engine(**extra: object) -> tuple[AlarmEngine, list[Transition]]:
    sunk: list[Transition] = []
    cfgs = [alarm(name=f"LIT-101.{k}", tag="LIT-101", type=k, limit=lim, **extra)
            for k, lim in (("HH", 95.0), ("H", 85.0))]
    cfgs.append(alarm(name="AIT-101.H", tag="AIT-101", type="H", limit=8.5))
    return AlarmEngine(cfgs, sink=sunk.extend, units={"LIT-101": "%", "AIT-101": "pH"}), sunk


def test_transitions_reach_the_sink_with_value_and_unit() -> None:
    engine, sunk = _engine()
    out = engine.process([Sample("LIT-101", at(0), 96.0)], at(0))
    assert sunk == out
    assert {(t.alarm, t.value, t.unit) for t in out} == {("LIT-101.HH", 96.0, "%"), ("LIT-101.H", 96.0, "%")}


def test_acknowledge_many_reports_each_refusal_and_does_the_rest() -> None:
    engine, sunk = _engine()
    engine.process([Sample("LIT-101", at(0), 96.0)], at(0))
    result = engine.acknowledge(["LIT-101.HH", "LIT-101.H", "AIT-101.H", "NO-SUCH"], "alice", "level high", at(1))
    assert [t.alarm for t in result.done] == ["LIT-101.HH", "LIT-101.H"]
    assert set(result.refused) == {"AIT-101.H", "NO-SUCH"}
    assert result.refused["AIT-101.H"].code == "Bad_ConditionBranchAlreadyAcked"
    assert result.refused["NO-SUCH"].code == "Bad_NodeIdUnknown"
    assert engine.status("LIT-101.HH").state is AlarmState.ACKED
    assert [t.event for t in sunk[-2:]] == [AlarmEvent.ACK, AlarmEvent.ACK]


def test_timed_shelve_expires_on_tick_and_reannunciates() -> None:
    engine, _ = _engine()
    engine.process([Sample("LIT-101", at(0), 96.0)], at(0))
    engine.shelve("LIT-101.HH", "bob", "level transmitter being recalibrated", at(1), duration_s=60)
    assert engine.tick(at(60)) == []
    [t] = engine.tick(at(61.5))
    assert (t.event, t.old_state, t.new_state, t.ts) == (AlarmEvent.SHELVE_EXPIRED, AlarmState.SHLVD,
                                                           AlarmState.UNACK, at(61))


def test_one_shot_shelve_ends_when_the_alarm_returns_to_normal() -> None:
    engine, _ = _engine()
    engine.process([Sample("LIT-101", at(0), 96.0)], at(0))
    engine.shelve("LIT-101.HH", "bob", "known overfill during cleaning", at(1))
    out = engine.process([Sample("LIT-101", at(5), 50.0)], at(5))
    hh = [t for t in out if t.alarm == "LIT-101.HH"]
    assert [(t.event, t.new_state) for t in hh] == [(AlarmEvent.UNSHELVE, AlarmState.NORM)]
    engine.process([Sample("LIT-101", at(6), 96.0)], at(6))
    assert engine.status("LIT-101.HH").state is AlarmState.UNACK  # the next activation alarms again


def test_re_alarm_after_the_configured_time() -> None:
    engine, _ = _engine(re_alarm_s=300)
    engine.process([Sample("LIT-101", at(0), 96.0)], at(0))
    engine.acknowledge(["LIT-101.HH"], "alice", "", at(10))
    assert [t.alarm for t in engine.tick(at(309))] == []
    assert [(t.alarm, t.event) for t in engine.tick(at(310))] == [("LIT-101.HH", AlarmEvent.RE_ALARM)]


def test_latched_alarm_needs_ack_then_reset() -> None:
    engine, _ = _engine(latching=True)
    engine.process([Sample("LIT-101", at(0), 96.0)], at(0))
    engine.process([Sample("LIT-101", at(5), 50.0)], at(5))
    assert engine.status("LIT-101.HH").state is AlarmState.UNACK  # latched: still in alarm
    with pytest.raises(AlarmRefused, match="acknowledge"):
        engine.reset("LIT-101.HH", "alice", "", at(6))
    engine.acknowledge(["LIT-101.HH"], "alice", "", at(7))
    t = engine.reset("LIT-101.HH", "alice", "tank checked", at(8))
    assert (t.event, t.new_state) == (AlarmEvent.RESET, AlarmState.NORM)


def test_restore_brings_back_active_and_shelved_alarms_without_new_activations() -> None:
    engine, _ = _engine()
    engine.process([Sample("LIT-101", at(0), 96.0), Sample("AIT-101", at(0), 9.0)], at(0))
    engine.acknowledge(["LIT-101.HH"], "alice", "", at(1))
    engine.shelve("AIT-101.H", "bob", "probe cleaning", at(2), duration_s=600)
    saved = engine.snapshots()

    fresh, _ = _engine()
    assert fresh.restore({**saved, "GONE.H": saved["LIT-101.H"]}) == ["GONE.H"]
    assert fresh.status("LIT-101.HH").state is AlarmState.ACKED
    assert fresh.status("LIT-101.H").state is AlarmState.UNACK
    assert fresh.status("AIT-101.H").state is AlarmState.SHLVD
    assert fresh.process([Sample("LIT-101", at(3), 96.5)], at(3)) == []  # still high: nothing new
    assert [t.event for t in fresh.tick(at(602))] == [AlarmEvent.SHELVE_EXPIRED]


def test_a_shelve_that_expired_before_an_on_delay_ran_out_is_journaled_first() -> None:
    engine = AlarmEngine([alarm(name="T.H", tag="T", type="H", limit=10.0, on_delay_s=30)])
    engine.shelve("T.H", "bob", "maintenance", at(0), duration_s=10)
    engine.process([Sample("T", at(5), 20.0)], at(5))
    out = engine.tick(at(60))  # both fell due while nobody looked: expiry at 10, activation at 35
    assert [(t.event, t.ts, t.new_state) for t in out] == [(AlarmEvent.SHELVE_EXPIRED, at(10), AlarmState.NORM),
                                                           (AlarmEvent.ACTIVATE, at(35), AlarmState.UNACK)]
