"""Migrations on the real TimescaleDB: applied once, idempotent, safe with concurrent starters, tamper-evident."""

from __future__ import annotations

import shutil
import threading
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from plantctl.historian.migrate import MIGRATIONS_DIR, MigrationError, apply_migrations, chunk_interval_for, discover

pytestmark = pytest.mark.db


def test_applied_once_then_a_no_op(fresh_database: str) -> None:
    every = [m.path.name for m in discover()]  # other parts add theirs (0100_alarms.sql, ...)
    assert every[0] == "0001_core.sql"
    assert apply_migrations(fresh_database) == every
    assert apply_migrations(fresh_database) == []
    with psycopg.connect(fresh_database) as conn:
        hypertables = {r[0] for r in conn.execute("SELECT hypertable_name FROM timescaledb_information.hypertables")}
        assert hypertables >= {"samples", "samples_1m", "samples_1h"}
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone() == (len(every),)
        unique = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'samples_tag_ts'").fetchone()
        assert unique is not None and "UNIQUE" in unique[0] and "tag_id, ts DESC" in unique[0]


def test_concurrent_starters_apply_each_file_once(fresh_database: str) -> None:
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            results.append(apply_migrations(fresh_database))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(len(r) for r in results) == [0, 0, 0, len(discover())]


def test_a_later_migration_from_another_part_is_applied_in_order(fresh_database: str, tmp_path: Path) -> None:
    shutil.copy(MIGRATIONS_DIR / "0001_core.sql", tmp_path / "0001_core.sql")
    (tmp_path / "0002_extra_journal.sql").write_text(
        "CREATE TABLE extra_journal (ts timestamptz NOT NULL, note text NOT NULL);")
    assert apply_migrations(fresh_database, tmp_path) == ["0001_core.sql", "0002_extra_journal.sql"]
    (tmp_path / "0002_extra_journal.sql").write_text("CREATE TABLE extra_journal_edited (x int);")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        apply_migrations(fresh_database, tmp_path)


def test_a_failing_migration_leaves_nothing_half_applied(fresh_database: str, tmp_path: Path) -> None:
    shutil.copy(MIGRATIONS_DIR / "0001_core.sql", tmp_path / "0001_core.sql")
    (tmp_path / "0002_broken.sql").write_text("CREATE TABLE half (x int); SELECT no_such_function();")
    with pytest.raises(psycopg.errors.UndefinedFunction):
        apply_migrations(fresh_database, tmp_path)
    with psycopg.connect(fresh_database) as conn:
        assert conn.execute("SELECT to_regclass('half')").fetchone() == (None,)
        assert conn.execute("SELECT max(version) FROM schema_migrations").fetchone() == (1,)


def test_badly_named_or_duplicate_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "1_core.sql").write_text("")
    with pytest.raises(MigrationError, match="NNNN_"):
        discover(tmp_path)
    (tmp_path / "1_core.sql").unlink()
    (tmp_path / "0003_a.sql").write_text("")
    (tmp_path / "0003_b.sql").write_text("")
    with pytest.raises(MigrationError, match="share version 0003"):
        discover(tmp_path)


def test_chunk_interval_rule() -> None:
    # 256 MiB / 130 B a row ≈ 2.06 M rows a chunk.
    assert chunk_interval_for(20 * 86400) == timedelta(days=1)        # 1.73 M rows/day: 1.19 d → 1 d
    assert chunk_interval_for(250 * 86400) == timedelta(hours=2)      # 21.6 M/day: 2.29 h → 2 h
    assert chunk_interval_for(5000 * 86400) == timedelta(hours=1)     # 432 M/day: 0.11 h → floor 1 h
    assert chunk_interval_for(10 * 86400 / 10) == timedelta(days=7)   # 86 k/day: 23.9 d → cap 7 d


def test_every_part_keeps_its_migrations_beside_it_and_one_registry_orders_them() -> None:
    from plantctl.db.migrate import MIGRATION_FOLDERS

    found = discover()
    assert [m.version for m in found] == sorted(m.version for m in found)
    owners = {m.path.name: m.path.parent.parent.name for m in found}
    assert owners["0001_core.sql"] == "historian" and owners["0100_alarms.sql"] == "alarms"
    assert owners["0101_audit.sql"] == "audit" and owners["0200_auth.sql"] == "auth"
    assert owners["0300_control.sql"] == "runtime"
    assert {m.path.parent for m in found} == set(MIGRATION_FOLDERS)


def test_a_version_used_in_two_folders_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "0005_one.sql").write_text("SELECT 1;")
    (tmp_path / "b" / "0005_other.sql").write_text("SELECT 2;")
    with pytest.raises(MigrationError, match="share version 0005"):
        discover([tmp_path / "a", tmp_path / "b"])
