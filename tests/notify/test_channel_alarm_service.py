"""A failing notification channel in the production assembly: its alarm is in the API's and the panel's alarm
list, paged by webhook (not by the failing email), acknowledged in the browser (journalled, audited), trended,
and back to normal once the mail server takes messages again. Real SMTP, webhook receiver, TimescaleDB, Chromium.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from api.auth.bootstrap import add_user, prepare_auth
from api.settings import ApiSettings
from plantctl.plantfile import load_plant
from plantctl.samples import Sample, utcnow
from tests.api.conftest import PlantServer, create_database, login
from tests.panel.conftest import CHROMIUM, CHROMIUM_ARGS, screenshot
from tests.panel.conftest import login as panel_login

from .servers import SmtpServer, WebhookReceiver, make_test_certificate

pytestmark = [pytest.mark.db, pytest.mark.slow]
T = TypeVar("T")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "plant.yaml"
ALARM = "SYS.NOTIFY.EMAIL.FAILING"
POINT = "SYS.NOTIFY.EMAIL"
NOTIFICATIONS = """
notifications:
  timezone: Europe/Berlin
  public_url: http://127.0.0.1:9/
  people:
    - {{name: anna, user: operator, email: anna@plant.example}}
    - {{name: carla, webhook: "{hook}"}}
  rotations:
    - {{name: primary, people: [anna], start: 2026-11-30}}
  pipelines:
    - name: urgent
      priorities: [1, 2, 3]
      steps: [{{notify: ["rotation:primary"], wait_s: 600}}]
  channels:
    email: {{host: 127.0.0.1, port: {smtp_port}, sender: plantctl@plant.example, username_env: TEST_SMTP_USER,
            password_env: TEST_SMTP_PASSWORD, ca_file: "{ca}"}}
    webhook: {{secret_env: TEST_HOOK_KEY}}
  delivery: {{retry_base_s: 1, retry_max_s: 2, escalate_after_s: 3}}
  channel_failure_notify: ["person:carla"]
"""


@dataclass
class Running:
    server: PlantServer
    smtp: SmtpServer
    hook: WebhookReceiver
    base_url: str
    passwords: dict[str, str]
    headers: dict[str, str]


def wait_for(what: str, check: Callable[[], T], timeout_s: float = 30) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s} s"
        time.sleep(0.1)


@pytest.fixture
def running(db_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Running]:
    monkeypatch.setenv("TEST_SMTP_USER", "plantctl")
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "s3cret-relay")
    monkeypatch.setenv("TEST_HOOK_KEY", "hook-key")
    cert = make_test_certificate(tmp_path)
    smtp = SmtpServer(cert, users={"plantctl": "s3cret-relay"})  # not started: the mail server is down
    hook = WebhookReceiver(b"hook-key").start()
    plant_file = tmp_path / "plant.yaml"
    plant_file.write_text(EXAMPLE.read_text() + NOTIFICATIONS.format(hook=hook.url, smtp_port=smtp.port, ca=cert[0]))
    name = f"chan_{secrets.token_hex(5)}"
    url = create_database(db_server, name)
    passwords = {"admin": secrets.token_urlsafe(16), "operator": secrets.token_urlsafe(16)}
    prepare_auth(ApiSettings(mode="production", database_url=url, admin_user="admin",
                             admin_password=passwords["admin"]))
    add_user(url, "operator", "operator", passwords["operator"])
    server = PlantServer(load_plant(plant_file), url, tmp_path / "state")
    try:
        base = server.start()
        headers = {"Authorization": f"Bearer {login(base, 'operator', passwords['operator']).token}"}
        yield Running(server, smtp, hook, base, passwords, headers)
    finally:
        server.stop()
        smtp.stop()
        hook.stop()
        with contextlib.suppress(Exception):
            db_server.drop_database(name)


def test_a_failing_mail_server_is_an_alarm_in_the_api_and_the_panel_paged_by_webhook(running: Running) -> None:
    server = running.server
    client = httpx.Client(base_url=running.base_url, timeout=10, headers=running.headers)
    server.publish([Sample("AIT-101", utcnow(), 9.8)])  # AIT-101.HH (5 s on-delay) pages anna by email: it fails

    def listed() -> dict[str, Any] | None:
        return {a["name"]: a for a in client.get("/api/v1/alarms").json()}.get(ALARM)

    alarm = wait_for("the channel alarm in /api/v1/alarms", listed)
    assert alarm["state"] == "UNACK" and alarm["priority"] == 2, alarm
    assert alarm["message"].startswith("email notifications failing: the on-call will not be reached by email; "
                                       f"check the mail server 127.0.0.1:{running.smtp.port}")
    page = wait_for("the page to carla by webhook", lambda: next(
        (running.hook.json(i) for i in range(len(running.hook.hooks)) if running.hook.json(i)["alarms"] == [ALARM]),
        None))
    assert page["recipient"] == "carla" and page["kind"] == "page" and ALARM in page["ack_links"]
    with psycopg.connect(server.database_url, autocommit=True) as conn:
        rows = conn.execute("SELECT channel FROM notify_message WHERE %s = ANY(alarms)", (ALARM,)).fetchall()
        assert rows == [("webhook",)], rows  # never by the failing email

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (never `playwright install`)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            ctx = browser.new_context(locale="en-GB", timezone_id="UTC")
            tab: Page = ctx.new_page()
            tab.set_default_timeout(15_000)
            panel_login(tab, running, "operator", "#/alarms")  # type: ignore[arg-type]
            row = tab.get_by_role("table", name="Active alarms").locator(f"tr[data-alarm='{ALARM}']")
            expect(row.get_by_test_id("state")).to_have_text("active, unacknowledged")
            expect(row).to_contain_text("email notifications failing")
            screenshot(tab, "alarms-notification-channel-failing")
            tab.get_by_label("Comment for acknowledgement").fill("mail relay down, IT called")
            tab.get_by_role("button", name=f"Acknowledge {ALARM}").click()
            expect(row.get_by_test_id("state")).to_have_text("active, acknowledged")
        finally:
            browser.close()

    assert client.get(f"/api/v1/alarms/{ALARM}").json()["state"] == "ACKED"
    running.smtp.start()  # the next retry goes through: the point returns to 0 and the alarm to normal
    wait_for("the channel alarm back to normal", lambda: client.get(f"/api/v1/alarms/{ALARM}").json()["state"]
             == "NORM")
    live = client.get("/api/v1/live", params={"tag": POINT}).json()["values"]
    assert [(v["tag"], v["value"]) for v in live] == [(POINT, 0.0)], live
    with psycopg.connect(server.database_url, autocommit=True) as conn:
        events = wait_for("the journal", lambda: [r[0] for r in conn.execute(
            "SELECT event FROM alarm_journal WHERE alarm = %s ORDER BY id", (ALARM,)).fetchall()]
            if len(conn.execute("SELECT 1 FROM alarm_journal WHERE alarm = %s", (ALARM,)).fetchall()) >= 3 else None)
        assert events == ["activate", "ack", "clear"], events
        audit = conn.execute("SELECT actor, detail->>'comment' FROM audit_log WHERE action = 'ack' AND target = %s",
                             (ALARM,)).fetchall()
        assert audit == [("operator", "mail relay down, IT called")], audit

        def stored() -> list[float] | None:
            values = [r[0] for r in conn.execute("SELECT s.value FROM samples s JOIN tags t ON t.id = s.tag_id "
                                                 "WHERE t.name = %s ORDER BY s.ts", (POINT,)).fetchall()]
            return values if 1.0 in values and values[-1] == 0.0 else None

        history = wait_for("the point in the historian", stored)
        assert history[0] == 0.0, history  # 0 at start, 1 failing, 0 again
    assert any(r.rcpt_tos == ["anna@plant.example"] for r in running.smtp.received)  # anna's page got through
    client.close()
