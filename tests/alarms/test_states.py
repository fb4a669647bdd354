"""Every transition of the ISA-18.2 state machine, legal and illegal, from a hand-written table."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from plantctl.alarms.states import AlarmEvent, AlarmRecord, AlarmRefused, AlarmState, Transition

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
T1 = T0 + timedelta(seconds=10)
RE_ALARM_S = 60
SHELVE_S = 600


def _start(name: str) -> AlarmRecord:
    """An alarm brought into a named starting state by legal steps only."""
    r = AlarmRecord("AIT-101.H", 2, latching=name.startswith("LATCHED"), re_alarm_s=RE_ALARM_S, shelve_max_s=3600)
    steps: dict[str, list[Callable[[AlarmRecord], object]]] = {
        "NORM": [],
        "UNACK": [lambda r: r.set_condition(True, T0)],
        "ACKED": [lambda r: r.set_condition(True, T0), lambda r: r.acknowledge(T0, "op")],
        "RTNUN": [lambda r: r.set_condition(True, T0), lambda r: r.set_condition(False, T0)],
        "SHLVD_TIMED": [lambda r: r.shelve_alarm(T0, "op", "sensor swap", SHELVE_S)],
        "SHLVD_TIMED_ACTIVE": [lambda r: r.set_condition(True, T0),
                               lambda r: r.shelve_alarm(T0, "op", "sensor swap", SHELVE_S)],
        "SHLVD_ONESHOT": [lambda r: r.set_condition(True, T0), lambda r: r.shelve_alarm(T0, "op", "known upset")],
        "DSUPR": [lambda r: r.set_suppressed(True, T0)],
        "DSUPR_ACTIVE": [lambda r: r.set_suppressed(True, T0), lambda r: r.set_condition(True, T0)],
        "OOSRV": [lambda r: r.remove_from_service(T0, "tech", "electrode replacement")],
        "OOSRV_ACTIVE": [lambda r: r.set_condition(True, T0),
                         lambda r: r.remove_from_service(T0, "tech", "electrode replacement")],
        "LATCHED_UNACK": [lambda r: r.set_condition(True, T0), lambda r: r.set_condition(False, T0)],
        "LATCHED_ACKED": [lambda r: r.set_condition(True, T0), lambda r: r.set_condition(False, T0),
                          lambda r: r.acknowledge(T0, "op")],
    }
    for step in steps[name]:
        step(r)
    return r


ACTIONS: dict[str, Callable[[AlarmRecord], Transition | None]] = {
    "activate": lambda r: r.set_condition(True, T1, 9.2),
    "clear": lambda r: r.set_condition(False, T1, 8.0),
    "ack": lambda r: r.acknowledge(T1, "op", "seen"),
    "reset": lambda r: r.reset(T1, "op"),
    "shelve_oneshot": lambda r: r.shelve_alarm(T1, "op", "known upset"),
    "shelve_timed": lambda r: r.shelve_alarm(T1, "op", "sensor swap", 300),
    "shelve_too_long": lambda r: r.shelve_alarm(T1, "op", "forever", 3601),
    "unshelve": lambda r: r.unshelve(T1, "op"),
    "expire": lambda r: r.expire_shelve(T0 + timedelta(seconds=SHELVE_S)),
    "suppress": lambda r: r.set_suppressed(True, T1),
    "unsuppress": lambda r: r.set_suppressed(False, T1),
    "oos": lambda r: r.remove_from_service(T1, "tech", "calibration"),
    "in_service": lambda r: r.return_to_service(T1, "tech"),
    "re_alarm": lambda r: r.re_alarm(T0 + timedelta(seconds=RE_ALARM_S)),
}

S = AlarmState
E = AlarmEvent
SAME = "no transition"  # the event changes nothing: no journal row

# (start, action, expected): expected is (new state, event), SAME, or the refusal code.
# Written from the ISA-18.2 state diagram and OPC UA Part 9 method rules, not from the code.
TABLE: list[tuple[str, str, tuple[AlarmState, AlarmEvent] | str]] = [
    ("NORM", "activate", (S.UNACK, E.ACTIVATE)),
    ("NORM", "clear", SAME),
    ("NORM", "ack", "Bad_ConditionBranchAlreadyAcked"),
    ("NORM", "reset", "Bad_InvalidState"),
    ("NORM", "shelve_oneshot", "Bad_InvalidState"),
    ("NORM", "shelve_timed", (S.SHLVD, E.SHELVE)),
    ("NORM", "shelve_too_long", "Bad_ShelvingTimeOutOfRange"),
    ("NORM", "unshelve", "Bad_ConditionNotShelved"),
    ("NORM", "expire", "Bad_ConditionNotShelved"),
    ("NORM", "suppress", (S.DSUPR, E.SUPPRESS)),
    ("NORM", "unsuppress", SAME),
    ("NORM", "oos", (S.OOSRV, E.OUT_OF_SERVICE)),
    ("NORM", "in_service", "Bad_InvalidState"),
    ("NORM", "re_alarm", "Bad_InvalidState"),

    ("UNACK", "activate", SAME),
    ("UNACK", "clear", (S.RTNUN, E.CLEAR)),
    ("UNACK", "ack", (S.ACKED, E.ACK)),
    ("UNACK", "reset", "Bad_InvalidState"),
    ("UNACK", "shelve_oneshot", (S.SHLVD, E.SHELVE)),
    ("UNACK", "shelve_timed", (S.SHLVD, E.SHELVE)),
    ("UNACK", "unshelve", "Bad_ConditionNotShelved"),
    ("UNACK", "suppress", (S.DSUPR, E.SUPPRESS)),
    ("UNACK", "oos", (S.OOSRV, E.OUT_OF_SERVICE)),
    ("UNACK", "in_service", "Bad_InvalidState"),
    ("UNACK", "re_alarm", "Bad_InvalidState"),

    ("ACKED", "activate", SAME),
    ("ACKED", "clear", (S.NORM, E.CLEAR)),
    ("ACKED", "ack", "Bad_ConditionBranchAlreadyAcked"),
    ("ACKED", "reset", "Bad_InvalidState"),
    ("ACKED", "shelve_oneshot", (S.SHLVD, E.SHELVE)),
    ("ACKED", "shelve_timed", (S.SHLVD, E.SHELVE)),
    ("ACKED", "unshelve", "Bad_ConditionNotShelved"),
    ("ACKED", "suppress", (S.DSUPR, E.SUPPRESS)),
    ("ACKED", "oos", (S.OOSRV, E.OUT_OF_SERVICE)),
    ("ACKED", "re_alarm", (S.UNACK, E.RE_ALARM)),

    ("RTNUN", "activate", (S.UNACK, E.ACTIVATE)),
    ("RTNUN", "clear", SAME),
    ("RTNUN", "ack", (S.NORM, E.ACK)),
    ("RTNUN", "reset", "Bad_InvalidState"),
    ("RTNUN", "shelve_oneshot", "Bad_InvalidState"),
    ("RTNUN", "shelve_timed", (S.SHLVD, E.SHELVE)),
    ("RTNUN", "unshelve", "Bad_ConditionNotShelved"),
    ("RTNUN", "suppress", (S.DSUPR, E.SUPPRESS)),
    ("RTNUN", "oos", (S.OOSRV, E.OUT_OF_SERVICE)),
    ("RTNUN", "re_alarm", "Bad_InvalidState"),

    ("SHLVD_TIMED", "activate", (S.SHLVD, E.ACTIVATE)),
    ("SHLVD_TIMED", "clear", SAME),
    ("SHLVD_TIMED", "ack", "Bad_InvalidState"),
    ("SHLVD_TIMED", "shelve_timed", "Bad_ConditionAlreadyShelved"),
    ("SHLVD_TIMED", "shelve_oneshot", "Bad_ConditionAlreadyShelved"),
    ("SHLVD_TIMED", "unshelve", (S.NORM, E.UNSHELVE)),
    ("SHLVD_TIMED", "expire", (S.NORM, E.SHELVE_EXPIRED)),
    ("SHLVD_TIMED", "suppress", (S.DSUPR, E.SUPPRESS)),
    ("SHLVD_TIMED", "oos", (S.OOSRV, E.OUT_OF_SERVICE)),
    ("SHLVD_TIMED", "reset", "Bad_InvalidState"),

    ("SHLVD_TIMED_ACTIVE", "clear", (S.SHLVD, E.CLEAR)),
    ("SHLVD_TIMED_ACTIVE", "unshelve", (S.UNACK, E.UNSHELVE)),
    ("SHLVD_TIMED_ACTIVE", "expire", (S.UNACK, E.SHELVE_EXPIRED)),
    ("SHLVD_TIMED_ACTIVE", "ack", "Bad_InvalidState"),

    ("SHLVD_ONESHOT", "clear", (S.NORM, E.UNSHELVE)),
    ("SHLVD_ONESHOT", "activate", SAME),
    ("SHLVD_ONESHOT", "unshelve", (S.UNACK, E.UNSHELVE)),
    ("SHLVD_ONESHOT", "expire", "Bad_ConditionNotShelved"),
    ("SHLVD_ONESHOT", "shelve_timed", "Bad_ConditionAlreadyShelved"),

    ("DSUPR", "activate", (S.DSUPR, E.ACTIVATE)),
    ("DSUPR", "ack", "Bad_InvalidState"),
    ("DSUPR", "unsuppress", (S.NORM, E.UNSUPPRESS)),
    ("DSUPR", "suppress", SAME),
    ("DSUPR", "oos", (S.OOSRV, E.OUT_OF_SERVICE)),
    ("DSUPR", "unshelve", "Bad_ConditionNotShelved"),
    ("DSUPR_ACTIVE", "unsuppress", (S.UNACK, E.UNSUPPRESS)),
    ("DSUPR_ACTIVE", "clear", (S.DSUPR, E.CLEAR)),

    ("OOSRV", "activate", (S.OOSRV, E.ACTIVATE)),
    ("OOSRV", "ack", "Bad_InvalidState"),
    ("OOSRV", "reset", "Bad_InvalidState"),
    ("OOSRV", "shelve_timed", "Bad_InvalidState"),
    ("OOSRV", "oos", "Bad_InvalidState"),
    ("OOSRV", "in_service", (S.NORM, E.IN_SERVICE)),
    ("OOSRV", "suppress", (S.OOSRV, E.SUPPRESS)),
    ("OOSRV_ACTIVE", "in_service", (S.UNACK, E.IN_SERVICE)),
    ("OOSRV_ACTIVE", "clear", (S.OOSRV, E.CLEAR)),

    ("LATCHED_UNACK", "clear", SAME),
    ("LATCHED_UNACK", "ack", (S.ACKED, E.ACK)),
    ("LATCHED_UNACK", "reset", "Bad_InvalidState"),
    ("LATCHED_UNACK", "activate", (S.UNACK, E.ACTIVATE)),
    ("LATCHED_ACKED", "reset", (S.NORM, E.RESET)),
    ("LATCHED_ACKED", "activate", (S.UNACK, E.ACTIVATE)),
    ("LATCHED_ACKED", "ack", "Bad_ConditionBranchAlreadyAcked"),
    ("LATCHED_ACKED", "re_alarm", "Bad_InvalidState"),
    ("LATCHED_ACKED", "oos", (S.OOSRV, E.OUT_OF_SERVICE)),
]

STARTING = {"NORM": S.NORM, "UNACK": S.UNACK, "ACKED": S.ACKED, "RTNUN": S.RTNUN, "SHLVD_TIMED": S.SHLVD,
            "SHLVD_TIMED_ACTIVE": S.SHLVD, "SHLVD_ONESHOT": S.SHLVD, "DSUPR": S.DSUPR, "DSUPR_ACTIVE": S.DSUPR,
            "OOSRV": S.OOSRV, "OOSRV_ACTIVE": S.OOSRV, "LATCHED_UNACK": S.UNACK, "LATCHED_ACKED": S.ACKED}


@pytest.mark.parametrize("start", sorted(STARTING))
def test_starting_states_are_what_their_names_say(start: str) -> None:
    assert _start(start).state is STARTING[start]


@pytest.mark.parametrize(("start", "action", "expected"), TABLE, ids=[f"{s}-{a}" for s, a, _ in TABLE])
def test_transition(start: str, action: str, expected: tuple[AlarmState, AlarmEvent] | str) -> None:
    r = _start(start)
    before_state, before = r.state, r.snapshot()
    if isinstance(expected, str) and expected != SAME:
        with pytest.raises(AlarmRefused) as refused:
            ACTIONS[action](r)
        assert refused.value.code == expected
        assert refused.value.reason.strip(), "a refusal must say why"
        assert r.state is before_state and r.snapshot() == before, "a refused action must change nothing"
        return
    t = ACTIONS[action](r)
    if expected == SAME:
        assert t is None
        assert r.state is before_state
        return
    assert t is not None
    assert not isinstance(expected, str)
    new_state, event = expected
    assert (t.new_state, t.event) == (new_state, event)
    assert t.old_state is before_state
    assert r.state is new_state
    assert t.snapshot == r.snapshot()


def test_every_action_is_exercised_from_every_annunciation_state() -> None:
    covered = {(s, a) for s, a, _ in TABLE}
    for start in ("NORM", "UNACK", "ACKED", "RTNUN"):
        for action in ACTIONS:
            if action in ("expire", "unsuppress", "in_service") and start != "NORM":
                continue  # covered from NORM; they need a masking state first
            if (start, action) not in covered and action not in ("shelve_too_long",):
                pytest.fail(f"table misses {start} × {action}")


def test_operator_actions_carry_user_and_comment() -> None:
    r = _start("UNACK")
    t = r.acknowledge(T1, "alice", "pH probe checked")
    assert (t.user, t.comment, t.ts) == ("alice", "pH probe checked", T1)


@pytest.mark.parametrize("action", ["ack", "shelve", "unshelve", "oos", "reset"])
def test_operator_actions_without_a_user_are_refused(action: str) -> None:
    r = _start("SHLVD_TIMED" if action == "unshelve" else "UNACK")
    calls: dict[str, Callable[[], object]] = {
        "ack": lambda: r.acknowledge(T1, " "),
        "shelve": lambda: r.shelve_alarm(T1, "", "why", 60),
        "unshelve": lambda: r.unshelve(T1, ""),
        "oos": lambda: r.remove_from_service(T1, "", "why"),
        "reset": lambda: r.reset(T1, ""),
    }
    with pytest.raises(AlarmRefused, match="needs the user"):
        calls[action]()


def test_shelve_needs_a_reason_and_timed_shelve_carries_its_expiry() -> None:
    r = _start("UNACK")
    with pytest.raises(AlarmRefused, match="reason"):
        r.shelve_alarm(T1, "op", "  ", 60)
    t = r.shelve_alarm(T1, "op", "sensor swap", 300)
    assert t.snapshot.shelved_until == T1 + timedelta(seconds=300)
    assert t.snapshot.shelve_reason == "sensor swap"


def test_re_alarm_is_not_due_before_its_time() -> None:
    r = _start("ACKED")
    assert not r.re_alarm_due(T0 + timedelta(seconds=RE_ALARM_S - 1))
    assert r.re_alarm_due(T0 + timedelta(seconds=RE_ALARM_S))


def test_masks_stack_and_the_last_one_removed_reannunciates() -> None:
    r = _start("SHLVD_TIMED_ACTIVE")
    r.remove_from_service(T1, "tech", "calibration")
    assert r.state is S.OOSRV
    t = r.unshelve(T1, "op")
    assert (t.old_state, t.new_state) == (S.OOSRV, S.OOSRV)  # still out of service
    t = r.return_to_service(T1, "tech")
    assert t.new_state is S.UNACK
