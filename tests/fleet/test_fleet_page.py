"""The Fleet page in Debian's Chromium against a real broker, two real edge processes and the central service:
both sites online, one SIGKILLed goes OFFLINE with its bad-quality alarm counted, the other's live values."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from plantctl.uplink.mosquitto import MosquittoBroker
from tests.fleet.central import central_plant, start_central
from tests.panel.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.db, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
SITE_B_ALARM = """  - name: SITE-B-PH-BAD
    tag: recyclers/site-b/AIT-101
    type: bad_quality
    priority: 1
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (never `playwright install`)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def edge(broker: MosquittoBroker, node: str, state: Path) -> subprocess.Popen[bytes]:
    """A site's edge node in its own process (tests/fleet/edge_site.py): AIT-101 and FIT-101 every 0.1 s."""
    return subprocess.Popen([sys.executable, "-m", "tests.fleet.edge_site", broker.url, node, str(state)],
                            cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_fleet_page_shows_sites_online_offline_and_a_sites_live_values(
        broker: MosquittoBroker, fresh_database: str, tmp_path: Path, browser: Browser) -> None:
    server, admin = start_central(central_plant(tmp_path / "central.yaml", broker.url, extra=SITE_B_ALARM),
                                  fresh_database, tmp_path / "central")
    edges = {node: edge(broker, node, tmp_path / node) for node in ("site-a", "site-b")}
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-GB", timezone_id="UTC",
                                  bypass_csp=True)
    try:
        page: Page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(f"{server.base_url}/#/fleet")
        page.get_by_label("User name").fill("admin")
        page.get_by_label("Password").fill(admin.password)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_test_id("whoami")).to_contain_text("admin")

        a, b = page.locator('tr[data-site="recyclers/site-a"]'), page.locator('tr[data-site="recyclers/site-b"]')
        expect(a).to_have_attribute("data-online", "true")
        expect(b).to_have_attribute("data-online", "true")
        expect(a.get_by_test_id("site-state")).to_contain_text("online since")
        expect(page.get_by_test_id("fleet-summary")).to_contain_text("2 of 2 sites online")
        expect(a.get_by_test_id("site-rate")).not_to_have_text("0.0")  # 20 values/s from the edge
        expect(a.get_by_test_id("site-alarms")).to_have_text("none")

        edges["site-b"].send_signal(signal.SIGKILL)  # a silent death: the broker's will (NDEATH) after 1.5 × 2 s
        edges["site-b"].wait(10)
        expect(b).to_have_attribute("data-online", "false")
        expect(b.get_by_test_id("site-state")).to_contain_text("OFFLINE")
        expect(b.get_by_test_id("site-alarms")).to_contain_text("×1")  # SITE-B-PH-BAD, priority 1
        expect(page.get_by_test_id("fleet-summary")).to_contain_text("1 of 2 sites online")
        shot = tmp_path / "fleet-page.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        ARTIFACTS.mkdir(parents=True, exist_ok=True)  # kept with the panel tests' screenshots (gitignored)
        shutil.copy(shot, ARTIFACTS / "fleet.png")

        a.get_by_role("link", name="recyclers/site-a").click()
        ph = page.locator('tr[data-tag="recyclers/site-a/AIT-101"]')
        expect(ph).to_contain_text("outlet pH")
        expect(ph).to_contain_text("pH")
        expect(ph).to_have_attribute("data-quality", "good")
        expect(ph.locator("td.reading")).to_have_text(re.compile(r"^7\.\d\d$"))
        page.screenshot(path=str(tmp_path / "fleet-site-a.png"), full_page=True)

        # the existing Trends page, across sites: a site tag's trend from the central historian
        ph.get_by_role("link", name="trend").click()
        expect(page.locator("ul.pens")).to_contain_text("recyclers/site-a/AIT-101 — outlet pH (pH)")
        page.screenshot(path=str(tmp_path / "fleet-site-a-trend.png"), full_page=True)
    finally:
        context.close()
        for p in edges.values():
            if p.poll() is None:
                p.kill()
                p.wait(10)
        server.stop()
