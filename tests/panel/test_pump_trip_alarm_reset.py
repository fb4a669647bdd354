"""A latching alarm is reset from the alarms page, in a real browser, through AlarmService, and audited."""

from __future__ import annotations

from typing import Any

import psycopg
from playwright.sync_api import Page, expect

from tests.panel.conftest import PanelService, login, screenshot

LIVE_TIMEOUT_MS = 15_000
ALARM = "P-201.FAULT"  # latching in the example plant


def _details(service: PanelService, action: str, target: str) -> list[dict[str, Any]]:
    """The detail (why, and by which credential) of each audit row, newest first, straight from the database."""
    with psycopg.connect(service.database_url, autocommit=True) as conn:
        rows = conn.execute("SELECT detail FROM audit_log WHERE action = %s AND target = %s ORDER BY id DESC",
                            (action, target)).fetchall()
    return [dict(r[0]) for r in rows]


def test_operator_resets_a_latched_pump_fault_alarm_from_the_panel(page: Page, panel_service: PanelService) -> None:
    assert panel_service.plc is not None
    model: Any = panel_service.plc.model

    async def trip() -> None:
        model.trip_pump("P-201")

    async def local_reset() -> None:
        model.reset_pump("P-201")

    login(page, panel_service, "operator", "#/alarms")
    row = page.get_by_role("table", name="Active alarms").locator(f"tr[data-alarm='{ALARM}']")
    panel_service.run(trip())
    expect(row.get_by_test_id("state")).to_have_text("active, unacknowledged", timeout=LIVE_TIMEOUT_MS)
    expect(page.get_by_role("button", name=f"Reset {ALARM}")).to_have_count(0)  # nothing to reset while active
    panel_service.run(local_reset())  # the fault clears at the pump; the alarm holds until reset
    expect(row.get_by_test_id("state")).to_have_text("latched, unacknowledged", timeout=LIVE_TIMEOUT_MS)
    page.get_by_label("Comment for acknowledgement").fill("P-201 motor protection reset at the MCC")
    page.get_by_role("button", name=f"Acknowledge {ALARM}").click()
    expect(row.get_by_test_id("state")).to_have_text("latched, acknowledged: reset when ready",
                                                     timeout=LIVE_TIMEOUT_MS)
    screenshot(page, "alarms-latched")
    page.get_by_role("button", name=f"Reset {ALARM}").click()
    expect(page.get_by_role("status").filter(has_text=f"{ALARM} reset")).to_be_visible()
    expect(row).to_have_count(0, timeout=LIVE_TIMEOUT_MS)
    resets = panel_service.audit_rows("alarm_reset", ALARM)
    assert resets and resets[0]["actor"] == "operator"
    assert resets[0]["old_value"] == {"state": "ACKED"} and resets[0]["new_value"] == {"state": "NORM"}
    assert _details(panel_service, "alarm_reset", ALARM)[0] == {"comment": "P-201 motor protection reset at the MCC",
                                                                "via": "cookie"}


def test_engineer_takes_an_alarm_out_of_service_with_a_reason_and_returns_it(
        page: Page, panel_service: PanelService) -> None:
    login(page, panel_service, "engineer", "#/alarms")
    form = page.get_by_role("form", name="Take an alarm out of service")
    form.get_by_label("Alarm to take out of service").select_option("LIT-101.HH")
    form.get_by_role("button", name="Out of service…").click()
    dialog = page.get_by_role("dialog", name="Take out of service: LIT-101.HH")
    dialog.get_by_label("Reason").fill("LIT-101 radar removed for cleaning")
    dialog.get_by_role("button", name="Take out of service").click()
    oos = page.get_by_role("table", name="Alarms out of service").locator("tr[data-alarm='LIT-101.HH']")
    expect(oos).to_be_visible()
    page.get_by_role("button", name="Return LIT-101.HH to service").click()
    dialog = page.get_by_role("dialog", name="Return to service: LIT-101.HH")
    dialog.get_by_label("Reason").fill("radar refitted, level checked against sight glass")
    dialog.get_by_role("button", name="Return to service").click()
    expect(oos).to_have_count(0)
    out = panel_service.audit_rows("out_of_service", "LIT-101.HH")
    back = panel_service.audit_rows("in_service", "LIT-101.HH")
    assert out and out[0]["actor"] == "engineer" and back and back[0]["actor"] == "engineer"
    assert _details(panel_service, "out_of_service", "LIT-101.HH")[0]["reason"] == "LIT-101 radar removed for cleaning"
    assert _details(panel_service, "in_service", "LIT-101.HH")[0]["reason"] == \
        "radar refitted, level checked against sight glass"


def test_an_operator_sees_no_out_of_service_controls(page: Page, panel_service: PanelService) -> None:
    login(page, panel_service, "operator", "#/alarms")
    expect(page.get_by_role("heading", name="Out of service")).to_be_visible()
    expect(page.get_by_role("form", name="Take an alarm out of service")).to_be_hidden()
    expect(page.get_by_role("button", name="Out of service…")).to_have_count(0)
