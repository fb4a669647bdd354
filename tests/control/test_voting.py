"""Voted measurement: middle-of-three, electrode faults taken out of the vote with a reason, 2oo3 trips.

Pure logic: the electrodes are functions of a simulated process pH; properties by Hypothesis.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from control.events import EventLog
from control.loop import FailSafeState, Loop
from control.voting import (
    ElectrodeFault,
    ElectrodeVoter,
    TwoOutOfThree,
    VoteEvent,
    VoteEventKind,
    middle_of_three,
)
from plantctl.config.models import LoopConfig, LoopMode
from plantctl.quality import Quality
from plantctl.samples import Sample

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NAMES = ("AIT-101A", "AIT-101B", "AIT-101C")
ph_value = st.floats(min_value=0.0, max_value=14.0, allow_nan=False)

Reading = Callable[[float, float], float | None]  # (t_s, process pH) -> reading, None = Bad quality


def process(t: float) -> float:
    return 7.0 + 0.5 * math.sin(2 * math.pi * t / 600.0)


def healthy(k: int) -> Reading:
    return lambda t, p: p + 0.004 * math.sin(1.7 * t + k)  # a little electrode noise


class VoteRig:
    def __init__(self) -> None:
        self.events: list[VoteEvent] = []
        self.voter = ElectrodeVoter(NAMES, events=self.events.append)
        self.readings: dict[str, Reading] = {n: healthy(i) for i, n in enumerate(NAMES)}
        self.t = 0.0
        self.process: Callable[[float], float] = process

    def run(self, seconds: int) -> None:
        for _ in range(seconds):
            self.t += 1.0
            now = T0 + timedelta(seconds=self.t)
            samples = {}
            for name, f in self.readings.items():
                v = f(self.t, self.process(self.t))
                samples[name] = Sample(name, now, 0.0, Quality.BAD_SENSOR_FAILURE, "open circuit") if v is None \
                    else Sample(name, now, v)
            self.voter.update(now, samples)

    def removed(self) -> list[VoteEvent]:
        return [e for e in self.events if e.kind is VoteEventKind.REMOVED]


def test_healthy_electrodes_vote_the_middle_value_without_events() -> None:
    rig = VoteRig()
    rig.run(900)
    assert rig.voter.in_vote == NAMES and not rig.events
    res = rig.voter.last
    assert res is not None and res.quality is Quality.GOOD
    assert abs(res.value - process(rig.t)) < 0.01


def test_a_frozen_electrode_is_taken_out_within_two_minutes_and_control_continues_on_two() -> None:
    rig = VoteRig()
    rig.run(300)
    frozen_at = rig.readings["AIT-101B"](rig.t, process(rig.t))
    assert frozen_at is not None
    rig.readings["AIT-101B"] = lambda _t, _p: frozen_at  # stuck at a GOOD reading
    rig.run(120)
    [ev] = rig.removed()
    assert ev.electrode == "AIT-101B" and ev.fault is ElectrodeFault.FROZEN and "frozen" in ev.reason
    assert (ev.ts - (T0 + timedelta(seconds=300))).total_seconds() <= 120
    res = rig.voter.last
    assert res is not None and res.quality is Quality.GOOD and res.in_vote == ("AIT-101A", "AIT-101C")
    assert abs(res.value - process(rig.t)) < 0.01


def test_a_drifting_electrode_raises_the_deviation_alarm_first_then_is_removed_as_drift() -> None:
    rig = VoteRig()
    rig.run(300)
    start = rig.t
    rig.readings["AIT-101C"] = lambda t, p: p + (t - start) * 3.0 / 3600.0  # +3 pH/h
    rig.run(20 * 60)
    kinds = [(e.kind, e.electrode) for e in rig.events]
    assert kinds[0] == (VoteEventKind.DEVIATION_ALARM, "AIT-101C")
    [ev] = rig.removed()
    assert ev.fault is ElectrodeFault.DRIFT and "pH/h" in ev.reason
    assert rig.voter.fault_of("AIT-101C") is ElectrodeFault.DRIFT
    assert abs(rig.voter.last.value - process(rig.t)) < 0.01  # type: ignore[union-attr]


def test_broken_glass_stuck_near_7_while_the_tank_is_acid_is_removed_with_that_diagnosis() -> None:
    rig = VoteRig()
    rig.process = lambda t: 4.0 + 0.2 * math.sin(2 * math.pi * t / 300.0)
    rig.run(200)
    rig.readings["AIT-101A"] = lambda t, _p: 7.05 + 0.01 * math.sin(t)
    rig.run(60)
    [ev] = rig.removed()
    assert ev.electrode == "AIT-101A" and ev.fault is ElectrodeFault.BROKEN_GLASS


def test_any_single_wrong_electrode_never_moves_the_vote_while_it_is_still_in() -> None:
    rig = VoteRig()
    rig.readings["AIT-101C"] = lambda _t, _p: 14.0
    for _ in range(25):  # within the removal delay the middle value already ignores it
        rig.run(1)
        assert abs(rig.voter.last.value - process(rig.t)) < 0.01  # type: ignore[union-attr]


def test_a_bad_electrode_is_out_at_once_and_rejoins_after_agreeing_for_readmit_s() -> None:
    rig = VoteRig()
    rig.run(100)
    rig.readings["AIT-101A"] = lambda _t, _p: None
    rig.run(1)
    assert rig.voter.fault_of("AIT-101A") is ElectrodeFault.BAD_QUALITY
    rig.readings["AIT-101A"] = healthy(0)
    rig.run(59)
    assert rig.voter.fault_of("AIT-101A") is ElectrodeFault.BAD_QUALITY
    rig.run(3)
    assert rig.voter.fault_of("AIT-101A") is None
    assert rig.events[-1].kind is VoteEventKind.READMITTED


def test_a_diagnosed_fault_is_latched_until_an_operator_readmits() -> None:
    rig = VoteRig()
    rig.readings["AIT-101B"] = lambda _t, p: p + 1.0
    rig.run(100)
    assert rig.voter.fault_of("AIT-101B") is ElectrodeFault.DEVIATION
    rig.readings["AIT-101B"] = healthy(1)
    rig.run(300)
    assert rig.voter.fault_of("AIT-101B") is ElectrodeFault.DEVIATION
    rig.voter.readmit("AIT-101B", T0 + timedelta(seconds=rig.t), "technician")
    rig.run(10)
    assert rig.voter.in_vote == NAMES


def _ph_loop() -> Loop:
    cfg = LoopConfig.model_validate(dict(
        name="PHC-101", pv="AIT-101", mv=["P-201.SP"], setpoint=7.0, setpoint_low=6.0, setpoint_high=8.0,
        kp=5.0, ki=0.01, mode="AUTO", fail_safe={"hold_s": 600, "stale_after_s": 10}))
    return Loop(cfg, EventLog(), "pH")


def test_two_failures_put_the_loop_in_its_fail_safe_and_one_failure_does_not() -> None:
    rig = VoteRig()
    loop = _ph_loop()

    def run(seconds: int) -> None:
        for _ in range(seconds):
            rig.run(1)
            now = T0 + timedelta(seconds=rig.t)
            assert rig.voter.last is not None
            loop.on_sample(rig.voter.last.sample("AIT-101", now))
            loop.execute(now, 1.0)

    run(60)
    assert loop.mode is LoopMode.AUTO and loop.fail_safe is FailSafeState.NORMAL
    rig.readings["AIT-101A"] = lambda _t, _p: None
    run(30)
    assert loop.fail_safe is FailSafeState.NORMAL  # controls on two
    rig.readings["AIT-101C"] = lambda _t, _p: None
    run(2)
    assert loop.fail_safe is FailSafeState.HOLD
    assert any(e.kind is VoteEventKind.VOTE_LOST for e in rig.events)
    rig.readings["AIT-101C"] = healthy(2)  # repaired: rejoins after agreeing with B for readmit_s
    run(62)
    assert rig.events[-1].kind is VoteEventKind.VOTE_RESTORED
    assert loop.fail_safe is FailSafeState.NORMAL and loop.mode is LoopMode.AUTO  # back within hold_s


def test_two_out_of_three_trips_on_two_channels_and_counts_a_failed_channel_as_tripped() -> None:
    now = T0
    il = TwoOutOfThree(limit=9.0, above=True, deadband=0.3)

    def ch(*values: float | None) -> list[Sample | None]:
        return [None if v is None else Sample(n, now, v) for n, v in zip(NAMES, values, strict=True)]

    assert not il.evaluate(now, ch(9.5, 7.0, 7.0))  # one electrode alone never trips
    assert il.evaluate(now, ch(9.5, 9.2, 7.0))
    assert il.evaluate(now, ch(8.9, 8.8, 7.0))  # inside the limit, not yet inside the deadband
    assert not il.evaluate(now, ch(8.6, 8.6, 7.0))
    assert il.evaluate(now, ch(None, 9.1, 7.0))  # a failed channel degrades 2oo3 to 1oo2
    il.tripped = False
    assert il.evaluate(now, ch(9.1, 7.0, 7.0), out_of_vote=frozenset({2}))


# --- properties ------------------------------------------------------------------------------


@given(ph_value, ph_value, ph_value)
def test_middle_of_three_is_the_median_in_any_order(a: float, b: float, c: float) -> None:
    m = middle_of_three(a, b, c)
    assert m == sorted((a, b, c))[1]
    assert m == middle_of_three(c, a, b) == middle_of_three(b, c, a) == middle_of_three(a, c, b)


@given(ph_value, ph_value, ph_value, st.permutations(range(3)))
def test_the_vote_stays_between_the_two_others_whatever_one_electrode_reads(
        a: float, b: float, wild: float, order: list[int]) -> None:
    voter = ElectrodeVoter(NAMES)
    values = [a, b, wild]
    res = voter.update(T0, {NAMES[i]: Sample(NAMES[i], T0, values[j]) for i, j in enumerate(order)})
    assert min(a, b) <= res.value <= max(a, b)
    assert res.quality is Quality.GOOD


@given(ph_value, ph_value, st.lists(ph_value, min_size=1, max_size=20))
def test_an_electrode_out_of_the_vote_never_influences_it(a: float, b: float, wild: list[float]) -> None:
    voter = ElectrodeVoter(NAMES)
    voter.take_out("AIT-101C", T0, "calibration")
    for k, w in enumerate(wild):
        now = T0 + timedelta(seconds=k)
        res = voter.update(now, {"AIT-101A": Sample("AIT-101A", now, a), "AIT-101B": Sample("AIT-101B", now, b),
                                 "AIT-101C": Sample("AIT-101C", now, w)})
        assert res.value == pytest.approx((a + b) / 2.0)
        assert res.in_vote == ("AIT-101A", "AIT-101B")


@given(st.lists(st.tuples(ph_value, st.booleans()), min_size=3, max_size=3))
def test_fewer_than_two_usable_electrodes_is_a_bad_vote(channels: list[tuple[float, bool]]) -> None:
    voter = ElectrodeVoter(NAMES)
    samples = {n: Sample(n, T0, v, Quality.GOOD if ok else Quality.BAD_SENSOR_FAILURE)
               for n, (v, ok) in zip(NAMES, channels, strict=True)}
    res = voter.update(T0, samples)
    assert res.quality.is_bad == (sum(ok for _v, ok in channels) < 2)


@given(st.lists(st.one_of(st.none(), ph_value), min_size=3, max_size=3), ph_value)
def test_a_fresh_2oo3_trips_exactly_when_two_channels_are_beyond_or_failed(
        values: list[float | None], limit: float) -> None:
    il = TwoOutOfThree(limit=limit, above=True)
    chans = [None if v is None else Sample(n, T0, v) for n, v in zip(NAMES, values, strict=True)]
    assert il.evaluate(T0, chans) == (sum(v is None or v > limit for v in values) >= 2)


def _voted_loop(on_bad: str = "trip") -> tuple[Loop, EventLog]:
    log = EventLog()
    cfg = LoopConfig.model_validate(dict(
        name="PHC-101", pv="AIT-101", mv=["P-201.SP"], setpoint=7.0, setpoint_low=6.0, setpoint_high=8.0,
        kp=5.0, ki=0.01, mode="AUTO", output_rate_per_s=None,
        interlocks=[{"name": "IL-PH-HH", "tag": "AIT-101A", "voted_with": ["AIT-101B", "AIT-101C"],
                     "above": 9.0, "deadband": 0.3, "on_bad_quality": on_bad}]))
    return Loop(cfg, log, "pH"), log


def _feed(loop: Loop, k: int, a: float | None, b: float | None, c: float | None) -> float:
    now = T0 + timedelta(seconds=k)
    loop.on_sample(Sample("AIT-101", now, 6.0))  # the (voted) PV asks for base
    for name, v in zip(NAMES, (a, b, c), strict=True):
        loop.on_sample(Sample(name, now, 0.0, Quality.BAD_SENSOR_FAILURE) if v is None else Sample(name, now, v))
    [req] = loop.execute(now, 1.0)
    return req.value


def test_a_voted_interlock_trips_on_two_electrodes_not_on_one() -> None:
    loop, log = _voted_loop()
    assert _feed(loop, 1, 7.0, 7.0, 7.0) > 0.0
    assert _feed(loop, 2, 9.5, 7.0, 7.0) > 0.0  # one electrode alone: no trip
    assert _feed(loop, 3, 9.5, 9.2, 7.0) == 0.0
    assert loop.active_interlocks == ["IL-PH-HH"]
    assert any("2 of 3 above 9 (AIT-101A = 9.5, AIT-101B = 9.2, AIT-101C = 7)" in e.reason for e in log.events)
    assert _feed(loop, 4, 8.9, 8.9, 7.0) == 0.0  # not yet back inside the deadband
    assert _feed(loop, 5, 8.6, 8.6, 7.0) > 0.0


def test_a_voted_interlock_counts_a_bad_channel_per_on_bad_quality() -> None:
    loop, _log = _voted_loop("trip")
    _feed(loop, 1, 7.0, 7.0, 7.0)
    assert _feed(loop, 2, None, 9.2, 7.0) == 0.0  # bad + one beyond: 1oo2 in effect
    loop2, _log2 = _voted_loop("ignore")
    _feed(loop2, 1, 7.0, 7.0, 7.0)
    assert _feed(loop2, 2, None, 9.2, 7.0) > 0.0  # the bad one does not vote
    assert _feed(loop2, 3, None, 9.2, 9.3) == 0.0


def test_voted_with_needs_two_more_distinct_tags() -> None:
    with pytest.raises(ValueError, match="two more tags"):
        LoopConfig.model_validate(dict(
            name="L", pv="P", mv=["M"], setpoint=7.0, setpoint_low=6.0, setpoint_high=8.0, kp=1.0,
            interlocks=[{"name": "I", "tag": "A", "voted_with": ["A", "B"], "above": 9.0}]))


def test_broken_glass_near_seven_is_taken_out_once_the_process_moves_and_it_does_not_follow() -> None:
    """Reading 7 ± noise is right while the process sits at 7; it is told apart (and only then matters)
    when the process moves and the electrode does not follow."""
    rig = VoteRig()
    rig.process = lambda _t: 7.0  # a steady tank at 7: a broken glass is indistinguishable here
    rig.run(120)
    rig.readings["AIT-101A"] = lambda t, _p: 7.0 + 0.01 * math.sin(3.1 * t)  # broken: 7 plus noise
    rig.run(300)
    assert not rig.removed()
    start = rig.t
    rig.process = lambda t: 7.0 + 0.8 * math.sin(2 * math.pi * (t - start) / 300.0)  # the process moves
    rig.run(300)
    [ev] = rig.removed()
    assert ev.electrode == "AIT-101A" and ev.fault is ElectrodeFault.BROKEN_GLASS
    # from the moment its error passed the deviation threshold to removal
    onset = next(t for t in range(int(start), int(rig.t)) if abs(rig.process(t) - 7.0) > 0.3)
    assert (ev.ts - T0).total_seconds() - onset <= 120


def test_after_a_link_drop_took_all_three_stale_they_rejoin_at_once() -> None:
    """A comms loss is not an electrode fault: with the vote lost there is nothing to agree with for a minute."""
    rig = VoteRig()
    rig.run(120)
    rig.t += 30.0  # 30 s without any sample: all three go stale at the next update
    now = T0 + timedelta(seconds=rig.t)
    rig.voter.update(now, {})
    assert rig.voter.last is not None and rig.voter.last.quality.is_bad
    rig.run(3)
    assert rig.voter.in_vote == NAMES and rig.voter.last.quality is Quality.GOOD
