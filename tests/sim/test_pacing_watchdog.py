"""The heartbeat watchdog as a state machine (pure logic; the wire behaviour is in test_modbus_server_watchdog)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hypothesis import given
from hypothesis import strategies as st

from sim.facade.core import CommandOutcome, PlcCore
from sim.facade.watchdog import HeartbeatWatchdog

if TYPE_CHECKING:
    from conftest import StandInModel


def test_does_not_trip_before_the_first_heartbeat_change() -> None:
    wd = HeartbeatWatchdog(timeout_s=5.0)
    assert not wd.check(1000.0)
    wd.beat(0, 1000.0)  # writing the initial value is no sign of life
    assert not wd.check(2000.0) and not wd.armed


def test_trips_once_after_the_timeout_and_clears_on_the_next_change() -> None:
    wd = HeartbeatWatchdog(timeout_s=5.0)
    wd.beat(1, 10.0)
    assert not wd.check(15.0)  # exactly the timeout: not yet
    assert wd.check(15.01)
    assert not wd.check(20.0)  # reported once
    assert wd.tripped and wd.trips == 1
    assert not wd.beat(1, 21.0)  # the same value again is still silence
    assert wd.tripped
    assert wd.beat(2, 22.0)
    assert not wd.tripped and wd.trips == 1


def test_zero_timeout_disables_it() -> None:
    wd = HeartbeatWatchdog(timeout_s=0.0)
    wd.beat(1, 0.0)
    assert not wd.check(1e9)


@given(st.lists(st.tuples(st.floats(0.0, 4.0), st.integers(0, 3)), max_size=60), st.floats(0.5, 3.0))
def test_trip_count_matches_the_silent_gaps(events: list[tuple[float, int]], timeout_s: float) -> None:
    """Reference: a trip is a stretch without a value change longer than the timeout, after arming."""
    wd = HeartbeatWatchdog(timeout_s=timeout_s)
    now, last_value, last_change, armed, tripped, trips = 0.0, 0, 0.0, False, False, 0
    for dt, value in events:
        now += dt
        # the PLC scans before it sees the write
        if armed and not tripped and now - last_change > timeout_s:
            tripped, trips = True, trips + 1
        wd.check(now)
        if value != last_value:
            last_value, last_change, armed, tripped = value, now, True, False
        wd.beat(value, now)
        assert (wd.tripped, wd.trips, wd.armed) == (tripped, trips, armed)


def test_a_trip_puts_the_model_in_safe_state_and_refuses_run_until_the_heartbeat_moves(
        standin_model: StandInModel) -> None:
    model = standin_model
    clock = [0.0]
    core = PlcCore(model, watchdog=HeartbeatWatchdog(timeout_s=1.0), clock=lambda: clock[0])
    assert core.command("P-201.SP", 50.0) is CommandOutcome.ACCEPTED
    assert core.command("P-201.RUN", 1.0) is CommandOutcome.ACCEPTED
    assert core.command("HEARTBEAT", 7.0) is CommandOutcome.ACCEPTED
    clock[0] = 2.0
    core.check_watchdog()
    assert model.safe_reasons and model.cmd["P-201.RUN"] == 0.0 and model.cmd["P-201.SP"] == 0.0
    assert core.readings["WATCHDOG.TRIPPED"].value == 1.0
    assert core.command("P-201.RUN", 1.0) is CommandOutcome.INTERLOCKED
    assert core.command("P-201.SP", 20.0) is CommandOutcome.ACCEPTED  # setpoints may be prepared
    core.heartbeat(8)
    assert core.readings["WATCHDOG.TRIPPED"].value == 0.0  # the stand-in has no latch of its own
    assert model.cmd["P-201.RUN"] == 0.0  # stays stopped until commanded
    assert core.command("P-201.RUN", 1.0) is CommandOutcome.ACCEPTED
