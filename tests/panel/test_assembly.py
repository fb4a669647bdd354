"""The panel is tested against the service production builds: its loops run and journal, its alarms audit."""

from __future__ import annotations

import time

import psycopg

from tests.panel.conftest import PanelService


def test_the_panels_service_runs_its_loops_and_journals_them(panel_service: PanelService) -> None:
    """A loop that only reacts to samples writes nothing; the running assembly executes PHC-101 on its period
    and its control journal stores the loop's events and state (as plantctl run does)."""
    deadline = time.monotonic() + 30
    events: list[tuple[str, str]] = []
    states = 0
    while time.monotonic() < deadline:
        with psycopg.connect(panel_service.database_url, autocommit=True) as conn:
            events = [(k, r) for k, r in conn.execute(
                "SELECT kind, reason FROM loop_events WHERE loop = 'PHC-101' ORDER BY ts, id").fetchall()]
            row = conn.execute("SELECT count(*) FROM loop_state WHERE loop = 'PHC-101'").fetchone()
            states = int(row[0]) if row else 0
        if events and states:
            break
        time.sleep(0.5)
    assert events, "no loop event of PHC-101 journaled: its loops are not running"
    assert states == 1, "PHC-101's state is not persisted"


def test_the_panels_alarm_service_audits_operator_actions(panel_service: PanelService) -> None:
    assert panel_service.alarms is not None and panel_service.alarms.audit is not None
