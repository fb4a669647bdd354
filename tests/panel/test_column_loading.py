"""C-301's loading bar on level 1 in Debian's Chromium: the operator records a regeneration in the panel, the bar
shows the loading and hours to breakthrough of the hand-worked history (tests/column_plant.py), grey while
normal, coloured once the outlet breaks through."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect

from api.auth.bootstrap import add_user, prepare_auth
from api.settings import ApiSettings
from plantctl.plantfile import load_plant
from tests.api.conftest import ROLES, PlantServer, Service, create_database
from tests.column_plant import CAPACITY_KG, INLET, RATE_KG_H, column_plant_file, expected_loaded_kg, seed_column_history
from tests.panel.conftest import screenshot

T0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=4)
SIZES = {"desktop": (1440, 900), "tablet-landscape": (1024, 768), "tablet-portrait": (768, 1024)}


@pytest.fixture(scope="module")
def column_panel(db_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    name = f"colp_{secrets.token_hex(5)}"
    url = create_database(db_server, name)
    passwords = {role: secrets.token_urlsafe(16) for role in ROLES}
    prepare_auth(ApiSettings(mode="production", database_url=url, admin_user="admin",
                             admin_password=passwords["admin"]))
    for role in ROLES[:-1]:
        add_user(url, role, role, passwords[role])
    state = tmp_path_factory.mktemp("column-panel")
    server = PlantServer(load_plant(column_plant_file(state)), url, state)
    try:
        base = server.start()
        seed_column_history(url, T0)
        yield Service(server, base, passwords, {})
    finally:
        server.stop()
        with contextlib.suppress(Exception):
            db_server.drop_database(name)


def _page(browser: Browser, size: str) -> Page:
    width, height = SIZES[size]
    ctx = browser.new_context(viewport={"width": width, "height": height}, locale="en-GB", timezone_id="UTC",
                              bypass_csp=True, has_touch=size != "desktop")
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    return page


def _login(page: Page, svc: Service, role: str) -> None:
    page.goto(f"{svc.base_url}/#/overview")
    page.get_by_label("User name").fill(role)
    page.get_by_label("Password").fill(svc.passwords[role])
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("whoami")).to_contain_text(f"{role} ({role})")
    expect(page.locator("[data-page=overview]")).to_have_attribute("data-overview", "ready")


def _shown(page: Page) -> dict[str, Any]:
    """The overview the page is showing now: the next refresh's response, once drawn."""
    with page.expect_response(lambda r: r.url.endswith("/api/v1/overview") and r.ok, timeout=15_000) as got:
        pass
    ov: dict[str, Any] = got.value.json()
    page.wait_for_timeout(200)  # drawn in the same task as the response is read
    return ov


def test_operator_records_a_regeneration_and_the_bar_shows_loading_and_breakthrough(
        column_panel: Service, browser: Browser) -> None:
    page = _page(browser, "desktop")
    try:
        _login(page, column_panel, "operator")
        bar = page.get_by_test_id("column-bar")
        expect(bar.get_by_test_id("column-loading")).to_contain_text("no regeneration of C-301 recorded")
        page.get_by_test_id("record-regeneration").click()
        dialog = page.get_by_test_id("regeneration-dialog")
        dialog.get_by_label("Back on line (UTC)").fill(T0.strftime("%Y-%m-%dT%H:%M"))
        dialog.get_by_label("Comment").fill("acid wash, 3 BV rinse")
        dialog.get_by_role("button", name="Record regeneration").click()
        expect(dialog).not_to_be_visible()
        expect(bar.get_by_test_id("column-loading")).to_contain_text("% loaded")
        rows = column_panel.audit_rows("column_regenerated", "C-301")
        assert len(rows) == 1 and rows[0]["actor"] == "operator"
        assert datetime.fromisoformat(rows[0]["new_value"]["at"]) == T0

        ov = _shown(page)
        col = ov["column"]
        loaded = expected_loaded_kg(T0, datetime.fromisoformat(col["at"]))  # worked out by hand, at its moment
        pct, hours = 100 * loaded / CAPACITY_KG, (CAPACITY_KG - loaded) / RATE_KG_H
        assert ov["column_loading_pct"]["value"] == pytest.approx(pct)
        assert ov["time_to_breakthrough_h"]["value"] == pytest.approx(hours)
        expect(bar.get_by_test_id("column-loading")).to_have_text(f"{ov['column_loading_pct']['value']:.0f} % loaded")
        expect(bar.get_by_test_id("column-breakthrough")).to_have_text(
            f"{ov['time_to_breakthrough_h']['value']:.0f} h to breakthrough")
        expect(bar).to_have_attribute("aria-valuenow", str(round(ov["column_loading_pct"]["value"])))
        expect(bar).to_have_attribute("data-state", "")  # grey: normal
        width = float(bar.locator("svg.column-bar rect.fill").get_attribute("width") or "nan")
        assert width == pytest.approx(pct, abs=0.2)
        screenshot(page, "column-loading-desktop")
    finally:
        page.context.close()


@pytest.mark.parametrize("size", ["tablet-landscape", "tablet-portrait"])
def test_bar_on_tablets(column_panel: Service, browser: Browser, size: str) -> None:
    page = _page(browser, size)
    try:
        _login(page, column_panel, "operator")
        bar = page.get_by_test_id("column-bar")
        expect(bar.get_by_test_id("column-breakthrough")).to_contain_text("h to breakthrough")
        assert page.evaluate("document.documentElement.scrollWidth") <= SIZES[size][0], "no sideways scrolling"
        button = page.get_by_test_id("record-regeneration").bounding_box()
        assert button is not None and button["width"] >= 44 and button["height"] >= 44, button
        screenshot(page, f"column-loading-{size}")
    finally:
        page.context.close()


def test_breakthrough_colours_the_bar(column_panel: Service, browser: Browser) -> None:
    """Outlet 60 of inlet 500 mg/L (0.12 > 0.1): broken through, 0 h, the bar no longer grey."""
    with psycopg.connect(column_panel.server.database_url, autocommit=True) as conn:
        ids = dict(conn.execute("SELECT name, id FROM tags WHERE name = ANY(%s)", ([INLET, "AIT-301"],)).fetchall())
        now = datetime.now(UTC) - timedelta(seconds=1)
        for tag, value in ((INLET, 500.0), ("AIT-301", 60.0)):
            conn.execute("INSERT INTO samples (ts, tag_id, value, quality) VALUES (%s, %s, %s, 192)",
                         (now, ids[tag], value))
    page = _page(browser, "desktop")
    try:
        _login(page, column_panel, "viewer")
        bar = page.get_by_test_id("column-bar")
        expect(bar).to_have_attribute("data-state", "broken", timeout=40_000)  # the column is read every 15 s
        expect(bar.get_by_test_id("column-breakthrough")).to_have_text(
            "broken through: outlet 12% of inlet (limit 10%)")
        expect(page.get_by_test_id("record-regeneration")).to_have_count(0)  # a viewer records nothing
        screenshot(page, "column-breakthrough")
    finally:
        page.context.close()
