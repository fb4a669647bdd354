"""Pump Start / Stop / Reset on the overview, in a real browser, through the API to the simulated PLC."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, expect

from tests.panel.conftest import PanelService, login, screenshot

LIVE_TIMEOUT_MS = 15_000


def _commanded(service: PanelService) -> dict[str, float]:
    assert service.plc is not None
    model: Any = service.plc.model

    async def read() -> dict[str, float]:
        return dict(model.commanded())
    return service.run(read())


def _admin(service: PanelService) -> dict[str, str]:
    r = httpx.post(f"{service.base_url}/api/v1/auth/login",
                   json={"username": "admin", "password": service.passwords["admin"]}, timeout=10)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_operator_starts_and_stops_p201_after_confirming_and_it_is_audited(
        page: Page, panel_service: PanelService) -> None:
    login(page, panel_service, "operator")
    tile = page.locator(".pump[data-pump='P-201']")
    state = tile.get_by_test_id("pump-state")
    status = tile.get_by_test_id("pump-status")
    expect(state).to_have_text("STOPPED", timeout=LIVE_TIMEOUT_MS)
    starts = len(panel_service.audit_rows("tag_write", "P-201.RUN"))

    tile.get_by_role("button", name="Start…").click()  # cancelled: nothing is sent
    confirm = tile.get_by_role("alertdialog", name="Confirm P-201 command")
    expect(confirm).to_contain_text("Start P-201 (NaOH dosing)?")
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_be_hidden()
    expect(status).to_have_text("P-201 start cancelled.")
    assert _commanded(panel_service)["P-201.RUN"] == 0.0

    tile.get_by_role("button", name="Start…").click()
    confirm.get_by_role("button", name="Confirm").click()
    expect(status).to_have_text("P-201 start sent")
    expect(state).to_have_text("RUNNING", timeout=LIVE_TIMEOUT_MS)  # from the PLC's RUNNING feedback
    expect(tile).to_have_attribute("data-state", "running")
    assert _commanded(panel_service)["P-201.RUN"] == 1.0
    screenshot(page, "overview-pumps")
    rows = panel_service.audit_rows("tag_write", "P-201.RUN")
    assert len(rows) == starts + 1
    assert rows[0]["actor"] == "operator" and rows[0]["new_value"] == {"value": 1.0, "unit": "bool"}

    tile.get_by_role("button", name="Stop…").click()
    expect(confirm).to_contain_text("Stop P-201 (NaOH dosing)?")
    confirm.get_by_role("button", name="Confirm").click()
    expect(state).to_have_text("STOPPED", timeout=LIVE_TIMEOUT_MS)
    assert _commanded(panel_service)["P-201.RUN"] == 0.0


def test_a_tripped_pump_shows_fault_until_the_operator_resets_it(page: Page, panel_service: PanelService) -> None:
    assert panel_service.plc is not None
    model: Any = panel_service.plc.model

    async def trip() -> None:
        model.trip_pump("P-202")
    login(page, panel_service, "operator")
    tile = page.locator(".pump[data-pump='P-202']")
    state = tile.get_by_test_id("pump-state")
    panel_service.run(trip())
    expect(state).to_have_text("FAULT", timeout=LIVE_TIMEOUT_MS)
    tile.get_by_role("button", name="Reset…").click()
    tile.get_by_role("alertdialog").get_by_role("button", name="Confirm").click()
    expect(tile.get_by_test_id("pump-status")).to_have_text("P-202 reset sent")
    expect(state).to_have_text("STOPPED", timeout=LIVE_TIMEOUT_MS)
    assert _commanded(panel_service)["P-202.RESET"] == 0.0  # the level went 1 then back to 0
    values = [r["new_value"]["value"] for r in panel_service.audit_rows("tag_write", "P-202.RESET")[:2]]
    assert values == [0.0, 1.0]  # newest first


def test_viewer_cannot_command_pumps_and_a_refusal_is_shown_verbatim(
        browser: Browser, page: Page, panel_service: PanelService) -> None:
    login(page, panel_service, "viewer")
    tile = page.locator(".pump[data-pump='P-201']")
    for name in ("Start…", "Stop…", "Reset…"):
        expect(tile.get_by_role("button", name=name)).to_be_disabled()
    expect(tile).to_contain_text("Read-only: viewer cannot command pumps.")
    before = len(panel_service.audit_rows("tag_write", "P-201.RUN"))
    refused: dict[str, Any] = page.evaluate("""async () => {
        try { await window.plantctl.api.post('/api/v1/tags/P-201.RUN/write', {value: 1}); return {status: 200}; }
        catch (e) { return {status: e.status, message: e.message}; } }""")
    assert refused == {"status": 403, "message": "this needs role operator or above; viewer is viewer"}
    assert _commanded(panel_service)["P-201.RUN"] == 0.0

    # An operator demoted while the panel is open: the buttons are there, the API's refusal is shown as worded
    admin = _admin(panel_service)
    user, password = f"op{secrets.token_hex(3)}", secrets.token_urlsafe(18)
    r = httpx.post(f"{panel_service.base_url}/api/v1/users", json={"username": user, "role": "operator",
                                                                    "password": password}, headers=admin, timeout=10)
    assert r.status_code == 201, r.text
    other = browser.new_context(viewport={"width": 1440, "height": 900}, timezone_id="UTC").new_page()
    try:
        other.goto(f"{panel_service.base_url}/#/overview")
        other.get_by_label("User name").fill(user)
        other.get_by_label("Password").fill(password)
        other.get_by_role("button", name="Log in").click()
        expect(other.get_by_test_id("whoami")).to_have_text(f"{user} (operator)")
        r = httpx.patch(f"{panel_service.base_url}/api/v1/users/{user}", json={"role": "viewer"}, headers=admin,
                        timeout=10)
        assert r.status_code == 200, r.text
        tile = other.locator(".pump[data-pump='P-201']")
        tile.get_by_role("button", name="Start…").click()
        tile.get_by_role("alertdialog").get_by_role("button", name="Confirm").click()
        status = tile.get_by_test_id("pump-status")
        expect(status).to_have_text(f"this needs role operator or above; {user} is viewer")
        expect(status).to_have_attribute("data-kind", "error")
    finally:
        other.context.close()
    assert _commanded(panel_service)["P-201.RUN"] == 0.0
    assert len(panel_service.audit_rows("tag_write", "P-201.RUN")) == before
