"""Random operator and process sequences never break the ISA-18.2 state rules (hypothesis state machine)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from plantctl.alarms.states import AlarmEvent, AlarmRecord, AlarmRefused, AlarmState, ShelveKind, Transition

from .recorded import T0

SHELVE_MAX_S = 3600
UNMASKING = {AlarmEvent.UNSHELVE, AlarmEvent.SHELVE_EXPIRED, AlarmEvent.UNSUPPRESS, AlarmEvent.IN_SERVICE}


class AlarmRules(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.rec = AlarmRecord("AIT-101.H", 2, latching=False, re_alarm_s=120, shelve_max_s=SHELVE_MAX_S)
        self.now = T0
        self.latching_rec = AlarmRecord("LIT-101.HH", 1, latching=True)

    def _apply(self, rec: AlarmRecord, action: Callable[[], Transition | None], allowed: bool | None = None) -> None:
        before_state, before = rec.state, rec.snapshot()
        try:
            t = action()
        except AlarmRefused as exc:
            assert exc.reason.strip()
            assert allowed is not True, f"refused an allowed action from {before_state}: {exc}"
            assert rec.snapshot() == before and rec.state is before_state
            return
        assert allowed is not False, f"allowed an illegal action from {before_state}"
        if t is not None:
            assert t.old_state is before_state and t.new_state is rec.state and t.snapshot == rec.snapshot()
            if t.event in UNMASKING and not rec.masked:
                # ISA-18.2: leaving shelved/suppressed/out of service goes to B if the condition is active, else A
                assert rec.state is (AlarmState.UNACK if rec.active else AlarmState.NORM)
            if t.event is AlarmEvent.ACTIVATE and not rec.masked:
                assert rec.state is AlarmState.UNACK, "every new activation is unacknowledged"

    def _both(self, make: Callable[[AlarmRecord], Callable[[], Transition | None]],
              allowed: Callable[[AlarmRecord], bool | None] = lambda r: None) -> None:
        for rec in (self.rec, self.latching_rec):
            self._apply(rec, make(rec), allowed(rec))

    @rule(seconds=st.floats(min_value=0, max_value=900))
    def time_passes(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        now = self.now
        for rec in (self.rec, self.latching_rec):
            if rec.shelve_expired_at(now):
                self._apply(rec, partial(rec.expire_shelve, now), True)
            if rec.re_alarm_due(now):
                self._apply(rec, partial(rec.re_alarm, now), True)

    @rule(active=st.booleans())
    def process_condition(self, active: bool) -> None:
        self._both(lambda r: lambda: r.set_condition(active, self.now, 9.0))

    @rule()
    def acknowledge(self) -> None:
        self._both(lambda r: lambda: r.acknowledge(self.now, "op"),
                   lambda r: r.state in (AlarmState.UNACK, AlarmState.RTNUN))

    @rule()
    def reset(self) -> None:
        self._both(lambda r: lambda: r.reset(self.now, "op"))

    @rule(duration=st.one_of(st.none(), st.floats(min_value=-10, max_value=2 * SHELVE_MAX_S)))
    def shelve(self, duration: float | None) -> None:
        self._both(lambda r: lambda: r.shelve_alarm(self.now, "op", "because", duration),
                   lambda r: False if r.shelve is not None or r.out_of_service else None)

    @rule()
    def unshelve(self) -> None:
        self._both(lambda r: lambda: r.unshelve(self.now, "op"), lambda r: r.shelve is not None)

    @rule(flag=st.booleans())
    def designed_suppression(self, flag: bool) -> None:
        self._both(lambda r: lambda: r.set_suppressed(flag, self.now))

    @rule()
    def out_of_service(self) -> None:
        self._both(lambda r: lambda: r.remove_from_service(self.now, "tech", "maintenance"),
                   lambda r: not r.out_of_service)

    @rule()
    def in_service(self) -> None:
        self._both(lambda r: lambda: r.return_to_service(self.now, "tech"), lambda r: r.out_of_service)

    @invariant()
    def state_follows_the_flags(self) -> None:
        for r in (self.rec, self.latching_rec):
            s = r.state
            if r.out_of_service:
                assert s is AlarmState.OOSRV
            elif r.suppressed:
                assert s is AlarmState.DSUPR
            elif r.shelve is not None:
                assert s is AlarmState.SHLVD
            else:
                expected = {(True, False): AlarmState.UNACK, (True, True): AlarmState.ACKED,
                            (False, False): AlarmState.RTNUN, (False, True): AlarmState.NORM}
                assert s is expected[(r.in_alarm, r.acked)]

    @invariant()
    def shelves_are_bounded(self) -> None:
        for r in (self.rec, self.latching_rec):
            if r.shelve is ShelveKind.ONE_SHOT:
                assert r.active, "a one-shot shelve ends when the alarm returns to normal"
            if r.shelve is ShelveKind.TIMED:
                assert r.shelved_until is not None
            if r.shelve is None:
                assert r.shelved_until is None and r.shelve_reason == ""

    @invariant()
    def only_a_latching_alarm_latches(self) -> None:
        assert not self.rec.latched
        if self.latching_rec.latched:
            assert not self.latching_rec.active


AlarmRules.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestAlarmRules = AlarmRules.TestCase
