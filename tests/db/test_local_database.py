"""The self-provisioned TimescaleDB: idempotent, password-protected, survives a crash."""

from __future__ import annotations

import psycopg
import pytest

from plantctl.db import LocalDatabase

pytestmark = pytest.mark.db


def test_up_is_idempotent_and_serves_timescaledb(db_server: LocalDatabase) -> None:
    url = db_server.app_url
    again = LocalDatabase(instance="test").up()
    assert again.app_url == url
    info = again.status()
    assert info["running"] is True
    assert info["timescaledb_license"] in ("apache", "timescale")
    assert str(info["server_version"]).startswith("17")
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT extname FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
        assert row == ("timescaledb",)
        host = conn.execute("SELECT inet_server_addr()::text").fetchone()
        assert host is not None and host[0].startswith("127.0.0.1")


def test_wrong_password_is_refused(db_server: LocalDatabase) -> None:
    bad = db_server.app_url.replace("plantctl:", "plantctl:x", 1)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(bad, connect_timeout=5)


def test_app_role_is_not_superuser(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
        assert row == (False,)


def test_restarts_after_sigkill(private_db_server: LocalDatabase) -> None:
    url = private_db_server.app_url
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS crash_probe (v int)")
        conn.execute("INSERT INTO crash_probe VALUES (1)")
    pid = private_db_server.postmaster_pid()
    assert pid is not None
    private_db_server.kill()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)
    private_db_server.start()
    assert private_db_server.postmaster_pid() not in (None, pid)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM crash_probe").fetchone() == (1,)


def test_checkpoints_by_time_with_compressed_full_pages_on_new_and_existing_clusters(db_server: LocalDatabase) -> None:
    with psycopg.connect(db_server.admin_url, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM RESET max_wal_size")  # as a cluster made before the setting was provisioned
        conn.execute("SELECT pg_reload_conf()")
    LocalDatabase(instance="test").up()
    with psycopg.connect(db_server.app_url) as conn:
        shown = {name: conn.execute(f"SHOW {name}").fetchone() for name in ("max_wal_size", "checkpoint_timeout",
                                                                          "wal_compression", "synchronous_commit",
                                                                          "fsync")}
    assert shown == {"max_wal_size": ("4GB",), "checkpoint_timeout": ("15min",), "wal_compression": ("lz4",),
                     "synchronous_commit": ("on",), "fsync": ("on",)}
