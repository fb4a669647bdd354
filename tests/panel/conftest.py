"""The whole service for browser tests, assembled by the production assembly (build_service, as `plantctl run
--simulate` builds it): loops running, alarms audited, the simulated PLC on free ports.

A SimulatedPlc on free loopback ports, a PlantRuntime with the real OPC UA and Modbus sources, the
historian on the test TimescaleDB (seeded with 7 days of history for eight tags and a known pH excursion),
the alarm service, the control loops, the API with the simulator bench and the panel under uvicorn, demo
users — all on one event loop in a service thread. A headless Chromium (Debian's) drives the panel.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import secrets
import tempfile
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from api.auth.bootstrap import prepare_auth
from api.server_limits import uvicorn_config
from api.settings import ApiSettings
from control.loop import Loop
from plantctl.alarms.service import AlarmService
from plantctl.config.models import PlantConfig
from plantctl.historian.migrate import apply_migrations
from plantctl.historian.rollups import run_rollups
from plantctl.historian.service import Historian
from plantctl.historian.writer import HistorianWriter
from plantctl.plantfile import load_plant
from plantctl.quality import Quality
from plantctl.runtime.assemble import Simulation, build_service
from plantctl.runtime.service import PlantRuntime
from plantctl.samples import Sample, utcnow
from sim.facade.runner import SimulatedPlc, default_shelf_file
from tests.support import free_port

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_PLANT = REPO / "examples" / "plant.yaml"
ARTIFACTS = REPO / "artifacts" / "panel"
CHROMIUM = Path(os.environ.get("PLANTCTL_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SHELF = default_shelf_file(Path(tempfile.gettempdir()) / f"plantctl-sim-tests-{os.getuid()}")
# Six tags with seven days of 10 s history, for the long-trend timing (6 × 60,480 rows).
SEEDED_TAGS = {"AIT-100": (2.5, 0.4, "pH"), "AIT-101": (7.2, 0.3, "pH"), "CIT-101": (14.0, 2.0, "mS/cm"),
               "AIT-301": (40.0, 15.0, "mg/L"), "FIT-100": (5.5, 2.0, "m3/h"), "LIT-101": (62.0, 6.0, "%"),
               # the discharge after T-401 (reporting.discharge_ph / discharge_flow of the example plant)
               "AIT-410": (7.2, 0.3, "pH"), "FIT-410": (5.5, 2.0, "m3/h")}
SEED_DAYS = 7
EXCURSION_PH = 9.6  # outside the permit's 6-9: twenty 1 s samples between the seeded 10 s ones, 20 min before the end


def excursion_at(seed_end: datetime) -> datetime:
    """When the seeded excursion begins: 20 minutes before the seed ends, between two 10 s samples."""
    return seed_end - timedelta(minutes=20) + timedelta(milliseconds=500)


EXCURSION_S = 20
SEED_STEP_S = 10
T = TypeVar("T")


def plant_file_on_free_ports(directory: Path) -> Path:
    """The example plant with its OPC UA and Modbus ports moved to free ones (tests run in parallel)."""
    text = EXAMPLE_PLANT.read_text()
    text = text.replace("opc.tcp://127.0.0.1:48400/", f"opc.tcp://127.0.0.1:{free_port()}/")
    text, n = re.subn(r"(\n\s+port: )50200\b", rf"\g<1>{free_port()}", text)
    assert n == 1, "the example plant's Modbus port moved; update this fixture"
    path = directory / "plant.yaml"
    path.write_text(text)
    scenarios = directory / "scenarios"
    scenarios.mkdir(exist_ok=True)
    for f in (EXAMPLE_PLANT.parent / "scenarios").glob("*.yaml"):
        (scenarios / f.name).write_text(f.read_text())
    return path


async def seed_history(url: str, plant: PlantConfig, state_dir: Path) -> tuple[int, datetime]:
    """Seven days of 10 s samples for eight tags, through the historian writer (binary COPY), then the rollups."""
    tags = [t for t in plant.tags if t.name in SEEDED_TAGS]
    writer = HistorianWriter(url, plant.historian, state_dir=state_dir, tags=tags)
    await writer.start()
    end = utcnow().replace(microsecond=0) - timedelta(minutes=2)
    start = end - timedelta(days=SEED_DAYS)
    n = SEED_DAYS * 86400 // SEED_STEP_S
    rows = 0
    chunk: list[Sample] = []
    for i in range(n):
        ts = start + timedelta(seconds=i * SEED_STEP_S)
        day = 2 * math.pi * i * SEED_STEP_S / 86400
        for k, (name, (mid, amp, _unit)) in enumerate(SEEDED_TAGS.items()):
            value = mid + amp * math.sin(day + k) + 0.1 * amp * math.sin(37 * day + 3 * k)
            chunk.append(Sample(name, ts, value, Quality.GOOD))
        if len(chunk) >= 30_000:
            writer.submit(chunk)
            rows += len(chunk)
            chunk = []
            await writer.flush(60)
    # a known discharge-pH excursion, for the overview's figures (tests/panel/test_operator_day.py)
    chunk += [Sample("AIT-410", excursion_at(end) + timedelta(seconds=k), EXCURSION_PH, Quality.GOOD)
              for k in range(EXCURSION_S)]
    writer.submit(chunk)
    rows += len(chunk)
    await writer.flush(60)
    await writer.stop()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await run_rollups(conn)
    return rows, end


@dataclass
class PanelService:
    """The service thread and what the tests may look at: base URL, demo passwords, the PLC and the database."""

    plant_file: Path
    database_url: str
    state_dir: Path
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    plc: SimulatedPlc | None = None
    runtime: PlantRuntime | None = None
    alarms: AlarmService | None = None
    historian: Historian | None = None
    loops: dict[str, Loop] = field(default_factory=dict)
    base_url: str = ""
    passwords: dict[str, str] = field(default_factory=dict)
    seeded_rows: int = 0
    seeded_end: datetime | None = None
    _server: uvicorn.Server | None = None
    _server_task: asyncio.Task[None] | None = None
    _thread: threading.Thread | None = None

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def start(self) -> None:
        settings = ApiSettings(mode="demo", database_url=self.database_url)  # successful logins are never throttled
        banner = prepare_auth(settings)  # demo mode: fresh random passwords, printed once at start-up
        self.passwords = dict(re.findall(r"^\s+(viewer|operator|engineer|admin)\s+(\S+)$", banner, re.M))
        assert set(self.passwords) == {"viewer", "operator", "engineer", "admin"}, banner
        self._thread = threading.Thread(target=self.loop.run_forever, name="panel-service", daemon=True)
        self._thread.start()
        self.run(self._start(settings))

    async def _start(self, settings: ApiSettings) -> None:
        config = load_plant(self.plant_file)
        self.seeded_rows, self.seeded_end = await seed_history(self.database_url, config, self.state_dir / "seed")
        built = build_service(config, database_url=self.database_url, state_dir=self.state_dir, settings=settings,
                              simulation=Simulation(self.plant_file, speed=1.0, shelf_file=SHELF,
                                                    state_dir=self.state_dir / "sim"))
        self.plc, self.runtime, self.historian = built.simulator, built.runtime, built.historian
        self.alarms, self.loops = built.alarms, dict(built.loops.loops)
        self._server = uvicorn.Server(uvicorn_config(built.app, settings, host="127.0.0.1", port=0,
                                                     log_level="warning", lifespan="on", ws="none"))
        self._server_task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._server_task.done():
                self._server_task.result()
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.02)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        async def _stop() -> None:
            if self._server is not None and self._server_task is not None:
                self._server.should_exit = True  # the lifespan stops the runtime, loops, alarms and the PLC
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._server_task, 30)
        with contextlib.suppress(Exception):
            self.run(_stop(), 45)
        self.loop.call_soon_threadsafe(self.loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self.loop.close()

    def audit_rows(self, action: str, target: str) -> list[dict[str, Any]]:
        """audit_log rows read straight from the database, newest first (not through the panel under test)."""
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cur = conn.execute("SELECT actor, action, target, old_value, new_value FROM audit_log "
                               "WHERE action = %s AND target = %s ORDER BY id DESC", (action, target))
            cols = [d.name for d in cur.description or ()]
            return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


@pytest.fixture(scope="package")
def panel_service(db_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PanelService]:
    name = f"panel_{secrets.token_hex(5)}"
    url = db_server.create_database(name)
    apply_migrations(url)
    state = tmp_path_factory.mktemp("panel-state")
    service = PanelService(plant_file_on_free_ports(state), url, state)
    try:
        service.start()
        yield service
    finally:
        service.stop()
        with contextlib.suppress(Exception):
            db_server.drop_database(name)


@pytest.fixture(scope="package")
def playwright_session() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (never `playwright install`)")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright_session: Playwright) -> Iterator[Browser]:
    b = playwright_session.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    # bypass_csp: Playwright's wait_for_function(<string>) evaluates it with eval, which the panel's CSP
    # forbids; the panel itself under its CSP is checked by tests/security/test_panel_csp.py
    ctx = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-GB", timezone_id="UTC",
                              bypass_csp=True)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    p = context.new_page()
    p.set_default_timeout(10_000)
    return p


def login(page: Page, service: PanelService, role: str, hash_path: str = "#/overview") -> None:
    """Log in through the panel's form as the demo user of that role."""
    page.goto(f"{service.base_url}/{hash_path}")
    page.get_by_label("User name").fill(role)
    page.get_by_label("Password").fill(service.passwords[role])
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("whoami")).to_contain_text(f"{role} ({role})")


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
