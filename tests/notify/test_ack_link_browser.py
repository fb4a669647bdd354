"""Acknowledging from the message, in a real browser: the emailed link opens a confirmation page; a mail
scanner's GET acknowledges nothing; the link works once and expires; the on-call page shows it all."""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections.abc import Coroutine, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright

from api.auth.bootstrap import prepare_auth
from api.settings import ApiSettings
from plantctl.alarms.states import AlarmState
from plantctl.config.notifications import AckLinkConfig
from plantctl.historian.migrate import apply_migrations
from plantctl.runtime.assemble import build_service, service_plant
from plantctl.samples import Sample, utcnow
from tests.panel.conftest import CHROMIUM, CHROMIUM_ARGS, screenshot
from tests.support import free_port

from .conftest import plant_file
from .servers import SmtpServer, make_test_certificate

pytestmark = [pytest.mark.db, pytest.mark.slow]
T = TypeVar("T")


class OffsetClock:
    """Real time plus an offset the test moves forward (to let a link expire without waiting hours)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.offset


class AckService:
    """The production assembly (alarms, notifier, API) without a plant link, under uvicorn on one event loop in a
    thread, with a real SMTP server; its clock is the test's."""

    def __init__(self, url: str, tmp: Path) -> None:
        self.url, self.tmp = url, tmp
        self.loop = asyncio.new_event_loop()
        self.clock = OffsetClock()
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        cert = make_test_certificate(tmp)
        self.smtp = SmtpServer(cert, users={"plantctl": "s3cret-relay"}).start()
        self.plant_file = plant_file(self.smtp.port, cert[0], public_url=self.base_url)
        self.config = service_plant(self.plant_file)
        self.passwords: dict[str, str] = {}
        self._thread = threading.Thread(target=self.loop.run_forever, name="ack-service", daemon=True)

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def start(self) -> None:
        settings = ApiSettings(mode="demo", database_url=self.url)  # successful logins are never throttled
        banner = prepare_auth(settings)
        self.passwords = dict(re.findall(r"^\s+(viewer|operator|engineer|admin)\s+(\S+)$", banner, re.M))
        self._thread.start()
        self.run(self._start(settings))

    async def _start(self, settings: ApiSettings) -> None:
        built = build_service(self.plant_file, database_url=self.url, state_dir=self.tmp, settings=settings,
                              plant_link=False, clock=self.clock)
        self.runtime, self.alarms = built.runtime, built.alarms
        notifier = built.runtime.notifier
        assert notifier is not None
        self.notifier = notifier
        # its lifespan starts the runtime, and stops it when the server exits
        self.server = uvicorn.Server(uvicorn.Config(built.app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on", ws="none"))
        self._server_task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self._server_task.done():
                self._server_task.result()
            await asyncio.sleep(0.02)

    def stop(self) -> None:
        async def _stop() -> None:
            self.server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server_task, 30)
        with contextlib.suppress(Exception):
            self.run(_stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.smtp.stop()

    def raise_alarm(self, tag: str, value: float) -> None:
        async def go() -> None:
            self.alarms.submit([Sample(tag, self.clock(), value)])
        self.run(go())

    def state(self, alarm: str) -> AlarmState:
        async def go() -> AlarmState:
            return self.alarms.engine.status(alarm).state
        return self.run(go())

    def link_in_mail(self, alarm: str, timeout_s: float = 15) -> str:
        """The acknowledge link in the first page that names this alarm."""
        deadline = time.monotonic() + timeout_s
        while True:
            for r in self.smtp.received:
                if r.message["X-Plantctl-Alarms"] == alarm:
                    m = re.search(rf"Acknowledge {re.escape(alarm)}: (\S+)", r.message.get_content())
                    assert m, r.message.get_content()
                    return m.group(1)
            assert time.monotonic() < deadline, f"no page for {alarm} in {timeout_s} s"
            time.sleep(0.05)


@pytest.fixture(scope="module")
def service(db_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AckService]:
    name = f"ack_{int(time.time() * 1000) % 10**9}"
    url = db_server.create_database(name)
    apply_migrations(url)
    svc = AckService(url, tmp_path_factory.mktemp("ack"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TEST_SMTP_USER", "plantctl")
        mp.setenv("TEST_SMTP_PASSWORD", "s3cret-relay")
        try:
            svc.start()
            yield svc
        finally:
            svc.stop()
            with contextlib.suppress(Exception):
                db_server.drop_database(name)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (never `playwright install`)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    ctx = browser.new_context(locale="en-GB", timezone_id="UTC")
    p = ctx.new_page()
    p.set_default_timeout(10_000)
    yield p
    ctx.close()


def test_ack_link_confirms_once_and_a_scanner_get_does_not_ack(service: AckService, page: Page) -> None:
    service.raise_alarm("AIT-101", 9.7)
    link = service.link_in_mail("AIT-101.HH")
    assert link.startswith(f"{service.base_url}/notify/ack/")

    for _ in range(3):  # a mail scanner (or a link preview) follows the link
        r = httpx.get(link)
        assert r.status_code == 200 and "Acknowledge AIT-101.HH?" in r.text
    assert service.state("AIT-101.HH") is AlarmState.UNACK

    page.goto(link)
    expect(page.get_by_role("heading")).to_have_text("Acknowledge AIT-101.HH?")
    expect(page.get_by_test_id("ack-state")).to_have_text("UNACK")
    person = service.config.notifications.person(service.notifier.roster.on_call("primary", utcnow()).person)  # type: ignore[union-attr]
    user = person.user or f"{person.name} (on call)"  # anna is linked to the API user anna; ben to none
    page.get_by_test_id("confirm-ack").click()
    expect(page.get_by_test_id("ack-done")).to_have_text(f"Acknowledged by {user} from the email notification.")
    assert service.state("AIT-101.HH") is AlarmState.ACKED
    with psycopg.connect(service.url) as conn:
        rows = conn.execute("SELECT actor, old_value->>'state', new_value->>'state', detail->>'comment' FROM audit_log "
                            "WHERE action = 'ack' AND target = 'AIT-101.HH'").fetchall()
    assert rows == [(user, "UNACK", "ACKED", "acknowledged from the email notification")]

    page.goto(link)  # single use
    expect(page.get_by_test_id("ack-refused")).to_contain_text("already used")
    expect(page.get_by_test_id("confirm-ack")).to_have_count(0)
    assert httpx.post(link).status_code == 410


def test_an_expired_link_does_not_acknowledge(service: AckService, page: Page) -> None:
    service.raise_alarm("LIT-2", 95.0)
    link = service.link_in_mail("LIT-2.H")
    service.clock.offset += timedelta(hours=4, seconds=1)  # past ack_link.ttl_s (4 h)
    page.goto(link)
    expect(page.get_by_test_id("ack-refused")).to_contain_text("expired")
    assert httpx.post(link).status_code == 410
    assert service.state("LIT-2.H") is AlarmState.UNACK


def test_on_call_page_shows_who_is_on_call_and_the_log(service: AckService, page: Page) -> None:
    page.goto(f"{service.base_url}/#/oncall?alarm=AIT-101.HH")
    page.get_by_label("User name").fill("viewer")
    page.get_by_label("Password").fill(service.passwords["viewer"])
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{service.base_url}/#/oncall?alarm=AIT-101.HH")
    on_call_now = service.notifier.roster.on_call("primary", utcnow()).person
    expect(page.get_by_test_id("oncall-primary")).to_have_text(on_call_now)
    log = page.get_by_test_id("notify-log")
    expect(log).to_contain_text("acknowledged (email)")
    expect(log.locator("tr[data-status=sent]")).to_have_count(1)
    screenshot(page, "oncall")


def bearer(service: AckService, role: str) -> dict[str, str]:
    r = httpx.post(f"{service.base_url}/api/v1/auth/login",
                   json={"username": role, "password": service.passwords[role]})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_an_engineer_puts_someone_on_call_from_the_panel(service: AckService, page: Page) -> None:
    url = f"{service.base_url}/api/v1/notify/overrides"
    now = utcnow()
    body = {"rotation": "primary", "person": "carla", "start": (now - timedelta(hours=1)).isoformat(),
            "end": (now + timedelta(hours=2)).isoformat(), "reason": "swap"}
    assert httpx.post(url, json=body, headers=bearer(service, "operator")).status_code == 403
    r = httpx.post(url, json={**body, "person": "dave"}, headers=bearer(service, "engineer"))
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == "no person 'dave' in the plant file"

    page.goto(f"{service.base_url}/#/oncall")
    page.get_by_label("User name").fill("engineer")
    page.get_by_label("Password").fill(service.passwords["engineer"])
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{service.base_url}/#/oncall")
    form = page.get_by_role("form", name="Add an override")
    form.get_by_label("Rotation").select_option("primary")
    form.get_by_label("Person").select_option("carla")
    form.get_by_label("From (UTC)").fill((now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    form.get_by_label("To (UTC)").fill((now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    form.get_by_label("Reason").fill("anna is ill")
    form.get_by_role("button", name="Add override").click()
    expect(page.get_by_test_id("oncall-primary")).to_have_text("carla (override)")
    assert service.notifier.roster.on_call("primary", utcnow()).person == "carla"  # the notifier pages carla
    with psycopg.connect(service.url) as conn:
        rows = conn.execute("SELECT actor, target, new_value->>'person', detail->>'reason' FROM audit_log "
                            "WHERE action = 'oncall_override'").fetchall()
    assert rows == [("engineer", "primary", "carla", "anna is ill")]

    page.get_by_role("table", name="Overrides").locator("tr[data-source=panel]").get_by_role(
        "button", name="Remove").click()
    expect(page.get_by_test_id("oncall-primary")).not_to_contain_text("carla")
    assert service.notifier.roster.on_call("primary", utcnow()).person != "carla"


def test_rotation_edits_are_checked_and_refused_to_non_engineers(service: AckService) -> None:
    url = f"{service.base_url}/api/v1/notify/rotations"
    body = {"people": ["carla", "anna"], "start": "2026-11-30", "handover_time": "08:00", "period_days": 7}
    listed = httpx.get(url, headers=bearer(service, "viewer")).json()
    assert [(r["name"], r["source"], r["people"]) for r in listed] == [
        ("primary", "plant file", ["anna", "ben"]), ("backup", "plant file", ["ben", "anna"])]
    assert httpx.put(f"{url}/primary", json=body, headers=bearer(service, "operator")).status_code == 403
    engineer = bearer(service, "engineer")
    for bad, status, detail in (
            ({**body, "people": ["carla", "dave"]}, 422, "no person 'dave' in the plant file"),
            ({**body, "people": ["carla", "carla"]}, 422, "each person takes one turn in a rotation")):
        r = httpx.put(f"{url}/primary", json=bad, headers=engineer)
        assert (r.status_code, r.headers["content-type"], r.json()["detail"]) == (
            status, "application/problem+json", detail)
    r = httpx.put(f"{url}/night", json=body, headers=engineer)
    assert (r.status_code, r.json()["detail"]) == (404, "no rotation 'night' in the plant file")
    assert httpx.put(f"{url}/primary", json={**body, "period_days": 0}, headers=engineer).status_code == 422
    r = httpx.delete(f"{url}/primary", headers=engineer)
    assert (r.status_code, r.json()["detail"]) == (404, "rotation 'primary' already follows the plant file")
    with psycopg.connect(service.url) as conn:
        assert conn.execute("SELECT count(*) FROM notify_rotation").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM audit_log WHERE action = 'oncall_rotation'").fetchone() == (0,)


def test_a_rotation_set_in_the_panel_is_stored_and_outlives_a_reload(service: AckService) -> None:
    url = f"{service.base_url}/api/v1/notify/rotations"
    engineer = bearer(service, "engineer")
    try:
        for people in (["carla", "anna"], ["carla"]):  # a second edit replaces the first, one in force
            r = httpx.put(f"{url}/backup", json={"people": people, "start": "2026-11-30", "handover_time": "08:00",
                                                  "period_days": 7}, headers=engineer)
            assert r.status_code == 200, r.text
        assert (r.json()["source"], r.json()["people"], r.json()["plant_file"]["people"]) == (
            "panel", ["carla"], ["ben", "anna"])
        service.notifier.roster.panel_rotations = {}  # forget what memory holds: the database has it
        service.run(service.notifier.reload_overrides())
        assert service.notifier.roster.on_call("backup", utcnow()).person == "carla"
        with psycopg.connect(service.url) as conn:
            assert conn.execute("SELECT people FROM notify_rotation WHERE removed_at IS NULL").fetchall() == [
                (["carla"],)]
            rows = conn.execute("SELECT old_value->'people', new_value->'people', detail->>'replaced' FROM audit_log "
                                "WHERE action = 'oncall_rotation' AND target = 'backup' ORDER BY id").fetchall()
        assert rows == [(["ben", "anna"], ["carla", "anna"], "plant file"), (["carla", "anna"], ["carla"], "panel")]
    finally:
        assert httpx.delete(f"{url}/backup", headers=engineer).status_code == 200
    assert service.notifier.roster.on_call("backup", utcnow()).person != "carla"


def test_an_engineer_edits_a_rotation_in_the_panel_and_goes_back_to_the_plant_files(
        service: AckService, page: Page) -> None:
    page.goto(f"{service.base_url}/#/oncall")
    page.get_by_label("User name").fill("engineer")
    page.get_by_label("Password").fill(service.passwords["engineer"])
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{service.base_url}/#/oncall")
    expect(page.get_by_test_id("rotation-source-primary")).to_have_text("plant file")
    form = page.get_by_role("form", name="Edit a rotation")
    form.get_by_label("Rotation").select_option("primary")
    expect(form.get_by_label("People in turn")).to_have_value("anna, ben")  # the form starts from what is in force
    form.get_by_label("People in turn").fill("carla")
    form.get_by_role("button", name="Save rotation").click()
    expect(page.get_by_test_id("oncall-primary")).to_have_text("carla")  # the rotation's, not an override
    expect(page.get_by_test_id("rotation-source-primary")).to_contain_text("panel (engineer")
    assert service.notifier.roster.on_call("primary", utcnow()).person == "carla"  # the notifier pages carla
    with psycopg.connect(service.url) as conn:
        rows = conn.execute("SELECT actor, target, new_value->'people' FROM audit_log "
                            "WHERE action = 'oncall_rotation' AND target = 'primary'").fetchall()
    assert rows == [("engineer", "primary", ["carla"])]
    screenshot(page, "oncall-rotation")

    page.get_by_role("table", name="Rotations").locator("tr[data-rotation=primary]").get_by_role(
        "button", name="Back to plant file").click()
    expect(page.get_by_test_id("rotation-source-primary")).to_have_text("plant file")
    expect(page.get_by_test_id("oncall-primary")).not_to_contain_text("carla")
    assert service.notifier.roster.on_call("primary", utcnow()).person != "carla"


def test_with_require_login_the_link_opens_the_panel_and_acks_as_the_operator(service: AckService, page: Page) -> None:
    service.raise_alarm("LIT-3", 96.0)
    link = service.link_in_mail("LIT-3.H")
    relaxed = service.notifier.cfg
    service.notifier.cfg = relaxed.model_copy(update={"ack_link": AckLinkConfig(require_login=True)})
    try:
        page.goto(link)
        expect(page.get_by_test_id("confirm-ack")).to_have_count(0)
        assert httpx.post(link).status_code == 403  # no acknowledgement without logging in
        assert service.state("LIT-3.H") is AlarmState.UNACK
        page.get_by_test_id("ack-login").click()
        page.get_by_label("User name").fill("operator")
        page.get_by_label("Password").fill(service.passwords["operator"])
        page.get_by_role("button", name="Log in").click()
        page.get_by_test_id("confirm-ack").click()
        expect(page.locator("[data-page=oncall] p.status")).to_contain_text(
            "LIT-3.H acknowledged by operator (from the email notification).")
        assert service.state("LIT-3.H") is AlarmState.ACKED
        with psycopg.connect(service.url) as conn:
            rows = conn.execute("SELECT actor FROM audit_log WHERE action = 'ack' AND target = 'LIT-3.H'").fetchall()
        assert rows == [("operator",)]
    finally:
        service.notifier.cfg = relaxed


def test_every_notify_read_needs_credentials(service: AckService) -> None:
    spec = httpx.get(f"{service.base_url}/openapi.json", headers=bearer(service, "viewer")).json()  # behind login
    reads = [p for p, ops in spec["paths"].items() if p.startswith("/api/v1/notify") and "get" in ops]
    assert len(reads) == 6, reads
    for path in reads:
        assert httpx.get(f"{service.base_url}{path}", params={"alarm": "AIT-101.HH"}).status_code == 401, path
        r = httpx.get(f"{service.base_url}{path}", params={"alarm": "AIT-101.HH"}, headers=bearer(service, "viewer"))
        assert r.status_code == 200, (path, r.status_code, r.text)
