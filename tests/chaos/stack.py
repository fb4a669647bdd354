"""The whole plant as separate processes for fault injection: `plantctl sim`, `plantctl run`, a private
TimescaleDB, and a fault proxy in front of each PLC server (tests/chaos and bench/chaos.py share it)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from plantctl.db import LocalDatabase
from plantctl.historian.migrate import apply_migrations
from tests.chaos.proxy import FaultProxy
from tests.support import free_port

REPO = Path(__file__).resolve().parents[2]
PLANT = REPO / "examples" / "plant.yaml"
UPSET_DAY = REPO / "examples" / "scenarios" / "upset-day.yaml"
# Modbus tags of the example plant scanned every 1 s with no deadband: one sample per scan, stamped
# by the service's own clock at the reply, so their stored timestamps show every missing scan.
MODBUS_PROBE_TAGS = ("FIT-100", "LIT-101", "TIT-101", "P-201.SPEED", "P-202.SPEED")
SCAN_PERIOD_S = 1.0
GOOD = 0xC0
BAD_NOT_CONNECTED = 0x08


def wait_for(what: str, probe: Any, timeout_s: float, every_s: float = 0.2) -> Any:
    """Poll probe() until it returns something truthy; raise with `what` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = probe()
        if got:
            return got
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout_s:g} s")
        time.sleep(every_s)


def plant_file(path: Path, opcua_port: int, modbus_port: int) -> Path:
    """The example plant with its PLC addresses moved to the given loopback ports."""
    text = PLANT.read_text()
    text = text.replace("opc.tcp://127.0.0.1:48400/", f"opc.tcp://127.0.0.1:{opcua_port}/")
    text = text.replace("port: 50200", f"port: {modbus_port}")
    if str(opcua_port) not in text or f"port: {modbus_port}" not in text:
        raise RuntimeError("examples/plant.yaml no longer has the addresses the chaos stack rewrites")
    path.write_text(text)
    return path


@dataclass
class Proc:
    """One child process with its log file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        self.starts += 1
        with self.log.open("ab") as out:
            out.write(f"\n=== start {self.starts} at {time.time():.3f}\n".encode())
            out.flush()
            self.popen = subprocess.Popen(self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                          cwd=REPO, start_new_session=True)

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def send(self, sig: int) -> None:
        assert self.popen is not None
        os.kill(self.popen.pid, sig)

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 20) -> int | None:
        """Signal and wait; SIGKILL if it will not go. Returns the exit code."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            os.kill(self.popen.pid, sig)
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
        return self.popen.returncode

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


class ApiRefused(RuntimeError):
    """The service answered with an HTTP error; carries the status and the problem document."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status


@dataclass
class Stack:
    """sim ⇄ proxies ⇄ service → private database; faults are methods, measurements are SQL."""

    db: LocalDatabase
    workdir: Path
    speed: float = 60.0
    scenario: Path | None = UPSET_DAY
    dbname: str = "chaos"
    url: str = ""
    sim_opcua_port: int = 0
    sim_modbus_port: int = 0
    api_port: int = 0
    opcua_proxy: FaultProxy | None = None
    modbus_proxy: FaultProxy | None = None
    sim: Proc | None = None
    service: Proc | None = None
    token: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    # -- set-up ----------------------------------------------------------------------------------
    def start(self) -> Stack:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.url = self.db.create_database(self.dbname)
        apply_migrations(self.url)
        with psycopg.connect(self.url, autocommit=True) as conn:
            # Test-only instrumentation: the order rows were committed in (COPY names its columns,
            # so the default fills this one). Out-of-order is judged on it.
            conn.execute("CREATE SEQUENCE IF NOT EXISTS commit_order")
            conn.execute("ALTER TABLE samples ADD COLUMN IF NOT EXISTS commit_order bigint "
                         "DEFAULT nextval('commit_order')")
        self.sim_opcua_port, self.sim_modbus_port, self.api_port = free_port(), free_port(), free_port()
        self.opcua_proxy = FaultProxy(self.sim_opcua_port).start()
        self.modbus_proxy = FaultProxy(self.sim_modbus_port).start()
        # The simulator serves the plant on its own ports; the service's plant file names the proxies.
        sim_yaml = plant_file(self.workdir / "plant-sim.yaml", self.sim_opcua_port, self.sim_modbus_port)
        svc_yaml = plant_file(self.workdir / "plant-service.yaml", self.opcua_proxy.port, self.modbus_proxy.port)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PLANTCTL_")}
        env["PYTHONUNBUFFERED"] = "1"
        sim_argv = [sys.executable, "-m", "plantctl.cli", "sim", "--config", str(sim_yaml), "--speed",
                    f"{self.speed:g}", "--opcua-port", str(self.sim_opcua_port), "--modbus-port",
                    str(self.sim_modbus_port), "--state-dir", str(self.workdir / "sim-state")]
        if self.scenario is not None:
            sim_argv += ["--scenario", str(self.scenario)]
        self.sim = Proc("sim", sim_argv, env, self.workdir / "sim.log")
        svc_env = {**env, "PLANTCTL_DATABASE_URL": self.url, "PLANTCTL_STATE_DIR": str(self.workdir / "state"),
                   "PLANTCTL_MODE": "demo"}
        self.service = Proc("service", [sys.executable, "-m", "plantctl.cli", "run", "--config", str(svc_yaml),
                                        "--port", str(self.api_port)], svc_env, self.workdir / "service.log")
        self.start_sim()
        self.start_service()
        return self

    def start_sim(self) -> float:
        assert self.sim is not None
        self.sim.start()
        wait_for("simulator listening", lambda: self._accepts(self.sim_modbus_port)
                 and self._accepts(self.sim_opcua_port), 30)
        return time.time()

    def start_service(self, timeout_s: float = 60) -> float:
        """Start `plantctl run`; returns when /readyz says every source is connected."""
        assert self.service is not None
        self.service.start()
        t0 = time.time()
        wait_for("service ready (/readyz)", lambda: self._ready() or self._died(), timeout_s)
        self._died(raise_=True)
        self.token = None
        return t0

    def stop(self) -> None:
        for p in (self.service, self.sim):
            if p is not None:
                p.stop(signal.SIGKILL if p.popen is not None and _stopped(p.pid) else signal.SIGTERM)
        for px in (self.opcua_proxy, self.modbus_proxy):
            if px is not None:
                px.stop()

    def _accepts(self, port: int) -> bool:
        with socket.socket() as s:
            s.settimeout(0.5)
            return s.connect_ex(("127.0.0.1", port)) == 0

    def _died(self, raise_: bool = False) -> bool:
        assert self.service is not None
        dead = not self.service.alive()
        if dead and raise_:
            raise RuntimeError("plantctl run exited:\n" + self.service.log_text()[-3000:])
        return dead

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.api_port}/readyz", timeout=2) as r:
                return bool(json.loads(r.read())["ready"])
        except (OSError, ValueError, KeyError):
            return False

    # -- the API -----------------------------------------------------------------------------------
    def login(self, user: str = "viewer") -> str:
        """A bearer token for one of the demo users whose fresh passwords the service printed at start."""
        assert self.service is not None
        banner = self.service.log_text().rsplit("=== start", 1)[-1]
        m = re.search(rf"^\s+{re.escape(user)}\s+(\S+)\s*$", banner, re.MULTILINE)
        if m is None:
            raise RuntimeError(f"no demo password for {user} in the service's start-up banner")
        body = json.dumps({"username": user, "password": m.group(1)}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.api_port}/api/v1/auth/login", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return str(json.loads(r.read())["access_token"])

    def api(self, method: str, path: str, body: dict[str, Any] | None = None, user: str = "viewer") -> Any:
        """One API call as a demo user (the viewer's token is kept until the service restarts)."""
        if user == "viewer":
            self.token = self.token or self.login()
            token = self.token
        else:
            token = self.login(user)
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.api_port}{path}", data=data, method=method,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as exc:
            raise ApiRefused(exc.code, exc.read().decode(errors="replace")) from None

    def health(self) -> dict[str, Any]:
        """/api/v1/health as the demo viewer: sources, writer counters, queue depths."""
        result: dict[str, Any] = self.api("GET", "/api/v1/health")
        return result

    # -- the database ------------------------------------------------------------------------------
    def sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            return conn.execute(query, args).fetchall()

    def commit_mark(self) -> int:
        """The commit-order sequence now: rows committed later have a larger commit_order."""
        return int(self.sql("SELECT last_value FROM commit_order")[0][0])

    def quarantine_lines(self) -> int:
        q = self.workdir / "state" / "quarantine" / "quarantine.jsonl"
        return len(q.read_text().splitlines()) if q.exists() else 0


def _stopped(pid: int) -> bool:
    """True when the process is SIGSTOPped (state T in /proc)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("T")
    except (OSError, IndexError):
        return False


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")
