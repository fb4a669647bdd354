"""Provision PostgreSQL 17 + TimescaleDB on 127.0.0.1 without the user installing anything.

Native Debian packages are used where the host has them (Debian 13 ships
postgresql-17-timescaledb); elsewhere a minimal Debian 13 root is built once with mmdebstrap
into the cache directory and the server runs in it under chroot (DESIGN.md §2).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psycopg
from psycopg import sql

from plantctl.paths import cache_dir, state_dir

PG_MAJOR = 17
DEFAULT_PORT = 55433
APP_ROLE = "plantctl"
APP_DATABASE = "plantctl"
_BINDIR = f"/usr/lib/postgresql/{PG_MAJOR}/bin"
_TSDB_LIB = f"/usr/lib/postgresql/{PG_MAJOR}/lib/timescaledb.so"

INSTEAD = (
    "Instead, point PLANTCTL_DATABASE_URL at a PostgreSQL server with TimescaleDB, e.g.\n"
    "  export PLANTCTL_DATABASE_URL=postgresql://plantctl:SECRET@dbhost:5432/plantctl\n"
    "or run the official container on a machine with Docker:\n"
    "  docker run -d --name timescaledb -p 127.0.0.1:5432:5432 -e POSTGRES_PASSWORD=SECRET "
    "timescale/timescaledb:latest-pg17"
)


# Write-ahead log settings for sustained ingest (docs/fleet.md, "Central ingest"): PostgreSQL's default
# max_wal_size (1 GB) starts a checkpoint every ~0.5 GB of WAL; fleet ingest writes ~180 B of WAL per row
# (measured: 2.2 GB over 12 M rows into 100,000 tags), so that was a checkpoint every ~30 s at 100,000
# rows/s, each followed by full-page images of every index page touched again. 4 GB makes it one per
# ~2.2 GB (~2 min at that rate; by time, 15 min, below it), the full-page images lz4-compressed.
# Durability is unchanged (fsync and synchronous_commit stay on); only crash recovery may replay more WAL.
WAL_SETTINGS = {"max_wal_size": "4GB", "checkpoint_timeout": "15min", "wal_compression": "lz4"}


log = logging.getLogger(__name__)


class ProvisionError(RuntimeError):
    """The local database cannot be provisioned here; the message says what to do instead."""


def database_url() -> str:
    """The URL every component uses: PLANTCTL_DATABASE_URL, else the local database (started if needed)."""
    explicit = os.environ.get("PLANTCTL_DATABASE_URL")
    if explicit:
        return explicit
    return LocalDatabase().up().app_url


def _apply_wal_settings(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Bring every cluster, new or older, to WAL_SETTINGS (ALTER SYSTEM; all three take effect on reload).

    ALTER SYSTEM checks a value before it writes it, so a server built without lz4 keeps its setting
    (logged) and still starts, where a bad line in postgresql.conf would stop it.
    """
    changed = False
    for name, wanted in WAL_SETTINGS.items():
        current = conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
        if current is not None and str(current[0]) == wanted:
            continue
        try:
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(wanted)))
        except psycopg.Error as exc:
            log.warning("local database: keeping %s (cannot set %s: %s)", name, wanted, exc)
            continue
        changed = True
    if changed:
        conn.execute("SELECT pg_reload_conf()")


@dataclass(frozen=True, slots=True)
class _Runner:
    """How the PostgreSQL binaries are run on this host."""

    kind: Literal["native", "chroot"]
    root: Path | None

    def host_path(self, inner: str) -> Path:
        return self.root / inner.lstrip("/") if self.root is not None else Path(inner)

    def argv(self, *args: str) -> list[str]:
        cmd = [*args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        if self.root is not None:
            cmd = ["chroot", str(self.root), *cmd]
        return cmd

    def postgres_ids(self) -> tuple[int, int]:
        passwd = self.host_path("/etc/passwd").read_text()
        for line in passwd.splitlines():
            fields = line.split(":")
            if fields[0] == "postgres":
                return int(fields[2]), int(fields[3])
        raise ProvisionError("no 'postgres' user in the PostgreSQL installation")


@dataclass
class _Secrets:
    port: int
    admin_password: str
    app_password: str


class LocalDatabase:
    """One local PostgreSQL+TimescaleDB instance; every method is idempotent."""

    def __init__(self, instance: str = "default", port: int | None = None) -> None:
        self.instance = instance
        env_port = os.environ.get("PLANTCTL_DB_PORT")
        self._port_wanted = port or (int(env_port) if env_port else DEFAULT_PORT)
        self._secrets_file = state_dir() / "db" / f"{instance}.json"
        self._runner: _Runner | None = None

    # -- paths ------------------------------------------------------------------------------
    @property
    def _inner_base(self) -> str:
        if os.geteuid() == 0:
            return f"/var/lib/plantctl/{self.instance}"
        return str(state_dir() / "db" / self.instance)

    @property
    def _inner_data(self) -> str:
        return f"{self._inner_base}/data"

    @property
    def root_dir(self) -> Path:
        return cache_dir() / f"pg{PG_MAJOR}-timescaledb-trixie"

    # -- URLs -------------------------------------------------------------------------------
    def _load_secrets(self) -> _Secrets | None:
        try:
            raw = json.loads(self._secrets_file.read_text())
            return _Secrets(int(raw["port"]), str(raw["admin_password"]), str(raw["app_password"]))
        except (OSError, ValueError, KeyError):
            return None

    @property
    def port(self) -> int:
        s = self._load_secrets()
        return s.port if s else self._port_wanted

    def _url(self, user: str, password: str, dbname: str) -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{dbname}"

    @property
    def admin_url(self) -> str:
        s = self._require_secrets()
        return self._url("postgres", s.admin_password, "postgres")

    @property
    def app_url(self) -> str:
        return self.url_for(APP_DATABASE)

    def url_for(self, dbname: str) -> str:
        s = self._require_secrets()
        return self._url(APP_ROLE, s.app_password, dbname)

    def _require_secrets(self) -> _Secrets:
        s = self._load_secrets()
        if s is None:
            raise ProvisionError(f"local database {self.instance!r} is not set up; run: plantctl db up")
        return s

    # -- lifecycle --------------------------------------------------------------------------
    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        path = cache_dir() / "db.lock"
        with path.open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def runner(self) -> _Runner:
        if self._runner is None:
            self._runner = self._find_or_install()
        return self._runner

    def _find_or_install(self) -> _Runner:
        if Path(_BINDIR, "postgres").exists() and Path(_TSDB_LIB).exists():
            return _Runner("native", None)
        root = self.root_dir
        if (root / _BINDIR.lstrip("/") / "postgres").exists() and (root / _TSDB_LIB.lstrip("/")).exists():
            if os.geteuid() != 0:
                raise ProvisionError("the cached TimescaleDB root needs root (chroot) to run. " + INSTEAD)
            return _Runner("chroot", root)
        if os.geteuid() != 0:
            raise ProvisionError(
                f"PostgreSQL {PG_MAJOR} with TimescaleDB is not installed and provisioning it needs root. " + INSTEAD)
        if _apt_has(f"postgresql-{PG_MAJOR}-timescaledb"):
            _run(["apt-get", "install", "-y", "-q", f"postgresql-{PG_MAJOR}", f"postgresql-{PG_MAJOR}-timescaledb"],
                 "installing PostgreSQL and TimescaleDB from apt")
            return _Runner("native", None)
        self._build_root(root)
        return _Runner("chroot", root)

    def _build_root(self, root: Path) -> None:
        if shutil.which("mmdebstrap") is None:
            _run(["apt-get", "update", "-q"], "apt-get update")
            _run(["apt-get", "install", "-y", "-q", "mmdebstrap"], "installing mmdebstrap")
        tmp = root.with_name(root.name + ".building")
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"plantctl: building a Debian 13 root with PostgreSQL {PG_MAJOR} + TimescaleDB in {root} "
              "(once, about half a minute)…", flush=True)
        _run(["mmdebstrap", "--variant=minbase", "--quiet",
              f"--include=postgresql-{PG_MAJOR},postgresql-{PG_MAJOR}-timescaledb", "trixie", str(tmp)],
             "building the TimescaleDB root with mmdebstrap")
        tmp.rename(root)

    def up(self) -> LocalDatabase:
        """Install if needed, initialise if needed, start if stopped, create role and database."""
        with self._lock():
            runner = self.runner()
            data = runner.host_path(self._inner_data)
            if not (data / "PG_VERSION").exists():
                self._initdb(runner)
            if not self._running(runner):
                self._start(runner)
            self._ensure_app_database()
        return self

    def _initdb(self, runner: _Runner) -> None:
        port = self._port_wanted
        if _port_busy(port):
            raise ProvisionError(f"port {port} on 127.0.0.1 is taken; set PLANTCTL_DB_PORT to a free port")
        base = runner.host_path(self._inner_base)
        shutil.rmtree(base / "data", ignore_errors=True)
        base.mkdir(parents=True, exist_ok=True)
        uid, gid = runner.postgres_ids() if os.geteuid() == 0 else (os.getuid(), os.getgid())
        os.chown(base, uid, gid)
        s = _Secrets(port, secrets.token_urlsafe(24), secrets.token_urlsafe(24))
        pwfile = base / "initdb.pw"
        pwfile.write_text(s.admin_password + "\n")
        os.chown(pwfile, uid, gid)
        pwfile.chmod(0o600)
        try:
            _run(runner.argv(f"{_BINDIR}/initdb", "-D", self._inner_data, "-U", "postgres", "-E", "UTF8",
                             "--locale=C.UTF-8", "--auth=scram-sha-256", f"--pwfile={self._inner_base}/initdb.pw"),
                 "initialising the database cluster")
        finally:
            pwfile.unlink(missing_ok=True)
        conf = runner.host_path(self._inner_data) / "postgresql.conf"
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(port),
            "unix_socket_directories": "''",  # TCP on loopback only; no socket lock to go stale
            "shared_preload_libraries": "'timescaledb'",
            "timescaledb.telemetry_level": "off",
            "max_connections": "200",
            "shared_buffers": "'512MB'",
            "synchronous_commit": "on",
            "log_min_messages": "warning",
        }
        if runner.kind == "chroot":
            settings["dynamic_shared_memory_type"] = "mmap"  # no /dev/shm mount inside the root
        with conf.open("a") as fh:
            fh.write("\n# plantctl\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))
        self._secrets_file.parent.mkdir(parents=True, exist_ok=True)
        self._secrets_file.write_text(json.dumps(s.__dict__))
        self._secrets_file.chmod(0o600)

    def _running(self, runner: _Runner) -> bool:
        # Not `pg_ctl status`: it takes a crashed postmaster's zombie for a live server.
        pid = self.postmaster_pid()
        return pid is not None and _pid_alive(pid)

    def _start(self, runner: _Runner) -> None:
        pid = self.postmaster_pid()
        if pid is not None and not _pid_alive(pid):
            # A crashed postmaster left its lock file; PostgreSQL would take a zombie pid for a live one.
            (runner.host_path(self._inner_data) / "postmaster.pid").unlink(missing_ok=True)
            runner.host_path(f"/tmp/.s.PGSQL.{self.port}.lock").unlink(missing_ok=True)
        if _port_busy(self.port):
            raise ProvisionError(f"port {self.port} on 127.0.0.1 is taken by another program; "
                                 f"stop it, or remove {self._secrets_file} and set PLANTCTL_DB_PORT")
        _run(runner.argv(f"{_BINDIR}/pg_ctl", "-D", self._inner_data, "-l", f"{self._inner_base}/server.log",
                         "-w", "-t", "60", "start"), "starting PostgreSQL")

    def _ensure_app_database(self) -> None:
        s = self._require_secrets()
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
            _apply_wal_settings(conn)
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(sql.SQL(verb + " ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                sql.Identifier(APP_ROLE), sql.Literal(s.app_password)))
        self.create_database(APP_DATABASE)

    def create_database(self, dbname: str) -> str:
        """Create (if absent) a database owned by the app role with TimescaleDB; returns its app URL."""
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(dbname), sql.Identifier(APP_ROLE)))
        admin_db = self.admin_url.rsplit("/", 1)[0] + "/" + dbname
        with psycopg.connect(admin_db, autocommit=True, connect_timeout=10) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        return self.url_for(dbname)

    def drop_database(self, dbname: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))

    def down(self) -> None:
        with self._lock():
            runner = self.runner()
            if (runner.host_path(self._inner_data) / "PG_VERSION").exists() and self._running(runner):
                _run(runner.argv(f"{_BINDIR}/pg_ctl", "-D", self._inner_data, "-m", "fast", "-w", "stop"),
                     "stopping PostgreSQL")

    def start(self) -> None:
        with self._lock():
            runner = self.runner()
            if not self._running(runner):
                self._start(runner)

    def kill(self) -> None:
        """SIGKILL the postmaster, as a crash would (for outage tests)."""
        pid = self.postmaster_pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and _pid_alive(pid):
                time.sleep(0.05)

    def destroy(self) -> None:
        """Remove the instance's data and secrets (throwaway test instances only)."""
        with self._lock():
            runner = self.runner()
            pid = self.postmaster_pid()
            if pid is not None and _pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
            shutil.rmtree(runner.host_path(self._inner_base), ignore_errors=True)
            self._secrets_file.unlink(missing_ok=True)

    def postmaster_pid(self) -> int | None:
        pidfile = self.runner().host_path(self._inner_data) / "postmaster.pid"
        try:
            return int(pidfile.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def status(self) -> dict[str, object]:
        runner = self.runner()
        running = self._running(runner)
        info: dict[str, object] = {
            "instance": self.instance, "running": running, "runtime": runner.kind, "port": self.port,
            "data_dir": str(runner.host_path(self._inner_data)),
        }
        if running:
            with psycopg.connect(self.app_url, connect_timeout=5) as conn:
                info["server_version"] = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
                info["timescaledb_license"] = conn.execute("SHOW timescaledb.license").fetchone()[0]  # type: ignore[index]
                row = conn.execute(
                    "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
                info["timescaledb_version"] = row[0] if row else None
        return info


def _run(argv: list[str], what: str) -> None:
    try:
        res = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600)
    except FileNotFoundError as exc:
        raise ProvisionError(f"{what} failed: {exc.filename} not found. " + INSTEAD) from exc
    if res.returncode != 0:
        tail = "\n".join((res.stderr or res.stdout).strip().splitlines()[-8:])
        raise ProvisionError(f"{what} failed (exit {res.returncode}):\n{tail}\n" + INSTEAD)


def _apt_has(package: str) -> bool:
    if shutil.which("apt-cache") is None:
        return False
    res = subprocess.run(["apt-cache", "policy", package], capture_output=True, text=True, check=False)
    return "Candidate:" in res.stdout and "Candidate: (none)" not in res.stdout


def _port_busy(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie child of ours still answers kill(0); treat it as gone
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
