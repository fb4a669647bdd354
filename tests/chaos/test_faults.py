"""Faults against the running plant (separate processes): what the historian stored must show no lost,
doubled or reordered sample outside the fault's own window, no Good value from a dead link, acquisition
back within 10 s, and pumps in safe state when the supervisor stalls. Measures: docs/reliability.md.

The tests share one running plant and run in file order; the heartbeat stall is last because it leaves
the pumps stopped.
"""

from __future__ import annotations

import signal

import pytest

from tests.chaos import faults
from tests.chaos.conftest import OUTAGE_S
from tests.chaos.faults import RECOVERY_BOUND_S, FaultResult
from tests.chaos.stack import Stack

pytestmark = [pytest.mark.db, pytest.mark.slow]
# A restarted service first migrates, hashes the demo passwords and reconnects: its own start-up budget.
SERVICE_START_BOUND_S = 20.0


def _clean(r: FaultResult) -> None:
    f = r.figures
    assert (f.samples_lost, f.duplicates, f.out_of_order, f.quarantined) == (0, 0, 0, 0), r.as_dict()
    assert r.good_while_down == 0, r.as_dict()


@pytest.mark.parametrize("how", ["stopped", "sigkilled"])
def test_database_outage_is_bridged_by_the_spool_without_a_gap(stack: Stack, how: str) -> None:
    r = faults.database_outage(stack, how, OUTAGE_S)
    _clean(r)
    assert r.detail["spool_bytes_written"] > 0, "the outage never reached the spool"
    assert r.figures.max_gap_s < 1.9, f"a scan is missing around the database outage: {r.as_dict()}"
    assert r.detail["rows_quarantined"] == 0 and r.detail["rows_dropped"] == 0, r.detail


def test_service_sigkill_loses_only_its_dead_time(stack: Stack) -> None:
    r = faults.service_sigkill(stack, dead_s=2.0)
    _clean(r)
    assert r.recovery_s <= SERVICE_START_BOUND_S, r.as_dict()


def test_service_sigterm_stores_everything_it_read(stack: Stack) -> None:
    r = faults.service_sigterm(stack, dead_s=1.0)
    _clean(r)
    assert r.detail["exit_status"] == -signal.SIGTERM and r.detail["runtime_stopped_logged"], r.detail
    assert r.detail["stop_s"] < 15, r.detail
    # Every scan up to the signal is stored: the runtime flushed the historian before the process ended.
    assert r.detail["last_sample_before_signal_s"] < 1.25, r.detail
    assert r.recovery_s <= SERVICE_START_BOUND_S, r.as_dict()


def test_modbus_link_cut_marks_its_tags_bad_and_recovers(stack: Stack) -> None:
    r = faults.link_cut(stack, "modbus", OUTAGE_S)
    _clean(r)
    assert r.bad_marked, r.detail
    assert r.recovery_s <= RECOVERY_BOUND_S, r.as_dict()


def test_opcua_link_cut_marks_its_tags_bad_and_leaves_modbus_alone(stack: Stack) -> None:
    r = faults.link_cut(stack, "opcua", OUTAGE_S)
    _clean(r)  # no excuse for the Modbus probe tags: their link stayed up
    assert r.bad_marked, r.detail
    assert r.recovery_s <= RECOVERY_BOUND_S, r.as_dict()


def test_simulator_killed_and_restarted(stack: Stack) -> None:
    r = faults.simulator_killed(stack, OUTAGE_S)
    _clean(r)
    assert r.bad_marked, r.detail
    assert r.recovery_s <= RECOVERY_BOUND_S, r.as_dict()


def test_heartbeat_stall_puts_the_pumps_in_safe_state(stack: Stack) -> None:
    r = faults.heartbeat_stall(stack)
    assert r.detail["before"] == {"P-201.RUNNING": True, "P-202.RUNNING": True, "WATCHDOG.TRIPPED": False}
    assert r.safe_state, r.detail
    # The watchdog times out 5 s after the last heartbeat change, which came about one period (1 s) before
    # SIGSTOP, later on a loaded machine; not before that, and within a few simulator ticks after.
    assert 2.5 <= r.detail["trip_after_stop_s"] <= 8.0, r.detail
    _clean(r)
    assert r.recovery_s <= RECOVERY_BOUND_S, r.as_dict()
