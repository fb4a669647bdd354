"""A real plant service for API tests: PlantRuntime + historian on TimescaleDB + uvicorn on a free loopback port.

The service runs in its own thread with its own event loop, exactly as `plantctl run` would run it;
tests talk to it over HTTP and publish samples into its bus through `PlantServer.call`.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import pytest
import uvicorn
from fastapi import FastAPI

from api.app import create_app
from api.auth.bootstrap import add_user, prepare_auth
from api.server_limits import uvicorn_config
from api.settings import ApiSettings
from control.loop import Loop
from plantctl.alarms.engine import AlarmEngine
from plantctl.alarms.journal import AlarmJournal
from plantctl.config.models import PlantConfig
from plantctl.historian.service import Historian
from plantctl.plantfile import load_plant
from plantctl.quality import Quality
from plantctl.runtime.assemble import PlantService, build_service
from plantctl.runtime.service import PlantRuntime
from plantctl.samples import Sample, utcnow

EXAMPLE_PLANT = Path(__file__).resolve().parents[2] / "examples" / "plant.yaml"
ROLES = ("viewer", "operator", "engineer", "admin")
T = TypeVar("T")


@dataclass
class PlantServer:
    """Owns the service thread; every coroutine on the service runs through run(), every callable through call().

    The service is the production assembly (plantctl.runtime.assemble.build_service: historian, alarms with
    audit, running loops, control journal, API) without a plant link: tests publish samples into its bus.
    """

    config: PlantConfig
    database_url: str
    state_dir: Path
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    service: PlantService | None = None
    runtime: PlantRuntime | None = None
    historian: Historian | None = None
    loops: dict[str, Loop] = field(default_factory=dict)
    alarms: AlarmEngine | None = None
    journal: AlarmJournal | None = None
    base_url: str = ""
    _servers: list[tuple[str, uvicorn.Server, asyncio.Task[None]]] = field(default_factory=list)
    _thread: threading.Thread | None = None

    def start(self, **settings: Any) -> str:
        """Assemble the service with these API settings and serve it (its lifespan starts the runtime)."""
        self._thread = threading.Thread(target=self.loop.run_forever, name="plant-service", daemon=True)
        self._thread.start()
        self.service = service = self.run(self._build(self._settings(settings)))
        self.runtime, self.historian = service.runtime, service.historian
        self.loops = dict(service.loops.loops)
        self.alarms, self.journal = service.alarms.engine, service.alarms.journal
        self.base_url = self.serve(service.app)
        return self.base_url

    async def _build(self, settings: ApiSettings) -> PlantService:
        return build_service(self.config, database_url=self.database_url, state_dir=self.state_dir,
                             settings=settings, plant_link=False)

    def _settings(self, settings: dict[str, Any]) -> ApiSettings:
        return ApiSettings(mode="production", database_url=self.database_url, **settings)

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        async def _call() -> T:
            return fn(*args)
        return self.run(_call())

    def publish(self, batch: list[Sample]) -> None:
        assert self.runtime is not None
        self.call(self.runtime.bus.publish, batch)

    def app(self, **settings: Any) -> FastAPI:
        """Another app over the running service (other API settings); the runtime stays the service's."""
        assert self.runtime is not None
        return create_app(self.runtime, settings=self._settings(settings))

    def serve(self, app: FastAPI) -> str:
        """Serve the app on 127.0.0.1:<free port>; returns its base URL."""
        async def _serve() -> str:
            # served exactly as `plantctl run` serves it: no proxy header believed, every slow-client limit
            server = uvicorn.Server(uvicorn_config(app, app.state.settings, host="127.0.0.1", port=0,
                                                   log_level="warning", lifespan="on", ws="none"))
            task = asyncio.create_task(server.serve())
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.02)
            port = server.servers[0].sockets[0].getsockname()[1]
            self._servers.append((f"http://127.0.0.1:{port}", server, task))
            return f"http://127.0.0.1:{port}"
        return self.run(_serve())

    def shutdown(self, base_url: str) -> None:
        """Stop the server serving base_url as SIGTERM would (its lifespan stops what it started)."""
        async def _shutdown() -> None:
            for url, server, task in list(self._servers):
                if url == base_url:
                    self._servers.remove((url, server, task))
                    server.should_exit = True
                    await asyncio.wait_for(task, 30)
        self.run(_shutdown())

    def stop(self) -> None:
        async def _stop() -> None:
            for _url, server, task in reversed(self._servers):  # the service's own app last: it stops the runtime
                server.should_exit = True
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, 30)
        with contextlib.suppress(Exception):
            self.run(_stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self.loop.close()


@dataclass
class Session:
    """A logged-in user: bearer headers, and the cookie + CSRF pair for browser-style requests."""

    username: str
    password: str
    token: str
    csrf: str
    session_cookie: str

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def cookie_headers(self, csrf: bool = True) -> dict[str, str]:
        h = {"Cookie": f"plantctl_session={self.session_cookie}; plantctl_csrf={self.csrf}"}
        if csrf:
            h["X-CSRF-Token"] = self.csrf
        return h


@dataclass
class Service:
    server: PlantServer
    base_url: str
    passwords: dict[str, str]
    sessions: dict[str, Session]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=10)

    def audit_rows(self, action: str, target: str) -> list[dict[str, Any]]:
        """audit_log rows read straight from the database (not through the API under test), newest first."""
        with psycopg.connect(self.server.database_url, autocommit=True) as conn:
            cur = conn.execute("SELECT actor, action, target, old_value, new_value, source_address, detail, ts "
                               "FROM audit_log WHERE action = %s AND target = %s ORDER BY id DESC", (action, target))
            cols = [d.name for d in cur.description or ()]
            return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    def audit_count(self) -> int:
        with psycopg.connect(self.server.database_url, autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM audit_log").fetchone()
        return int(row[0]) if row else 0

    def publish_healthy_plant(self, ph: float = 7.0) -> None:
        """A fresh PV and every interlock input of PHC-101 in its healthy state, then wait until the running
        loop has evaluated them on a tick (interlocks clear at execution): AUTO can be taken."""
        now = utcnow()
        self.server.publish([Sample(tag, now, v, Quality.GOOD) for tag, v in (
            ("AIT-101", ph), ("AIT-104", ph), ("AIT-105", ph), ("LIT-101", 80.0), ("P-201.FAULT", 0.0),
            ("P-202.FAULT", 0.0),
            ("P-201.RUNNING", 1.0), ("P-202.RUNNING", 1.0))])
        loop = self.server.loops["PHC-101"]
        deadline = time.monotonic() + 10

        def active() -> list[str]:
            return loop.active_interlocks

        while self.server.call(active) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not self.server.call(active), f"PHC-101's interlocks did not clear: {self.server.call(active)}"


def login(base_url: str, username: str, password: str) -> Session:
    r = httpx.post(f"{base_url}/api/v1/auth/login", json={"username": username, "password": password}, timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    # The cookie is Secure, so a cookie jar would not send it back over http://; tests send it explicitly.
    cookie = r.cookies.get("plantctl_session")
    assert cookie == body["access_token"]
    return Session(username, password, body["access_token"], body["csrf_token"], cookie)


def create_database(db_server: Any, name: str) -> str:
    """db_server.create_database, retried: concurrent CREATE DATABASE/EXTENSION by other test runs on the
    shared server can fail with "tuple concurrently updated" (a catalog race, not our bug)."""
    for attempt in range(3):
        try:
            return str(db_server.create_database(name))
        except psycopg.errors.InternalError:
            if attempt == 2:
                raise
            time.sleep(0.5 + attempt)
    raise AssertionError("unreachable")


@pytest.fixture(scope="package")
def service(db_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One plant service for the API test package, with a user of every role logged in."""
    name = f"api_{secrets.token_hex(5)}"
    url = create_database(db_server, name)
    passwords = {role: secrets.token_urlsafe(16) for role in ROLES}
    prepare_auth(ApiSettings(mode="production", database_url=url, admin_user="admin",
                             admin_password=passwords["admin"]))
    for role in ROLES[:-1]:
        add_user(url, role, role, passwords[role])
    server = PlantServer(load_plant(EXAMPLE_PLANT), url, tmp_path_factory.mktemp("plant-state"))
    try:
        base = server.start()
        sessions = {role: login(base, role, passwords[role]) for role in ROLES}
        yield Service(server, base, passwords, sessions)
    finally:
        server.stop()
        with contextlib.suppress(Exception):
            db_server.drop_database(name)
