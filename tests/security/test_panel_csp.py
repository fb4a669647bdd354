"""The panel works under its own Content-Security-Policy: Chromium reports no violation on any page."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from api.routers.panel import NODE_MODULES
from tests.api.conftest import Session

CHROMIUM = Path(os.environ.get("PLANTCTL_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
# Injected by the browser (CDP), not by the page, so the CSP does not apply to it.
LISTEN = ("window.__csp = []; document.addEventListener('securitypolicyviolation', "
          "e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));")
PAGES = ["#/overview", "#/trends?tags=AIT-101&range=10m", "#/alarms", "#/loops", "#/audit"]


def test_panel_pages_raise_no_csp_violation(running: tuple[str, Session]) -> None:
    if not CHROMIUM.exists() or not NODE_MODULES.is_dir():
        if os.environ.get("CI"):
            raise AssertionError(f"{CHROMIUM} or {NODE_MODULES} missing: apt-get install chromium; npm ci")
        pytest.skip("no Chromium or node_modules here")
    base, session = running
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_context(timezone_id="UTC").new_page()
            page.add_init_script(LISTEN)
            console: list[str] = []
            page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
            page.goto(f"{base}/")
            response_csp = page.evaluate("1")  # the page loaded
            assert response_csp == 1
            page.get_by_label("User name").fill("admin")
            page.get_by_label("Password").fill(session.password)
            page.get_by_role("button", name="Log in").click()
            expect(page.get_by_test_id("whoami")).to_contain_text("admin")
            violations: list[str] = []
            for hash_path in PAGES:
                page.goto(f"{base}/{hash_path}")
                page.add_init_script(LISTEN)
                expect(page.get_by_test_id("whoami")).to_contain_text("admin")
                page.wait_for_timeout(600)
                violations += [f"{hash_path}: {v}" for v in page.evaluate("window.__csp || []")]
            styles = page.evaluate("getComputedStyle(document.body).fontFamily")
        finally:
            browser.close()
    assert not violations, violations
    assert not [c for c in console if "Content Security Policy" in c], console
    assert styles, "the panel's own stylesheet did not apply"


def test_api_docs_render_from_our_copy_under_the_same_csp(running: tuple[str, Session]) -> None:
    """Finding 7: /docs is Swagger UI from node_modules, behind the panel's login, with no CSP violation."""
    if not CHROMIUM.exists() or not NODE_MODULES.is_dir():
        if os.environ.get("CI"):
            raise AssertionError(f"{CHROMIUM} or {NODE_MODULES} missing: apt-get install chromium; npm ci")
        pytest.skip("no Chromium or node_modules here")
    base, session = running
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_context(timezone_id="UTC").new_page()
            page.add_init_script(LISTEN)
            console: list[str] = []
            page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
            outside: list[str] = []
            page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(base) else None)
            assert page.goto(f"{base}/docs").status == 401  # not before logging in
            page.goto(f"{base}/")
            page.get_by_label("User name").fill("admin")
            page.get_by_label("Password").fill(session.password)
            page.get_by_role("button", name="Log in").click()
            expect(page.get_by_test_id("whoami")).to_contain_text("admin")
            page.goto(f"{base}/docs")
            expect(page.locator(".swagger-ui .info .title")).to_contain_text("plantctl", timeout=20_000)
            expect(page.locator(".opblock-tag-section").first).to_be_visible()
            violations = page.evaluate("window.__csp || []")
        finally:
            browser.close()
    assert not violations, violations
    assert not [c for c in console if "Content Security Policy" in c], console
    assert not [u for u in outside if not u.startswith("data:")], outside  # no CDN, nothing off this origin
