"""Versioned SQL migrations applied in order at start, once each, safe with concurrent starters.

Files are ``NNNN_<what>.sql`` in plantctl/historian/migrations/ (four digits, lower-case name);
each runs in its own transaction together with its row in ``schema_migrations``. A session-level
advisory lock serialises starters, so two services starting at once apply each file once.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import psycopg

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# pg_advisory_lock key: "plantctl" in ASCII, fits a bigint.
ADVISORY_LOCK_KEY = int.from_bytes(b"plantctl", "big") & 0x7FFF_FFFF_FFFF_FFFF

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version  integer     PRIMARY KEY,
    name     text        NOT NULL,
    sha256   text        NOT NULL,
    applied  timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(RuntimeError):
    """The migrations folder or the database's migration ledger is inconsistent."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in version order; a badly named or duplicate-numbered file is an error."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix != ".sql":
            continue
        m = _FILE_NAME.match(path.name)
        if m is None:
            raise MigrationError(
                f"{path}: migration files are named NNNN_<lower_case_name>.sql, e.g. 0002_alarm_journal.sql")
        version = int(m.group(1))
        if version in found:
            raise MigrationError(f"{path.name} and {found[version].path.name} share version {version:04d}")
        found[version] = Migration(version, m.group(2), path)
    return [found[v] for v in sorted(found)]


def apply_migrations(database_url: str, directory: Path = MIGRATIONS_DIR,
                     connect_timeout_s: float = 10) -> list[str]:
    """Apply the migrations not yet applied; returns the file names applied now (empty: up to date)."""
    migrations = discover(directory)
    applied_now: list[str] = []
    with psycopg.connect(database_url, autocommit=True, connect_timeout=int(connect_timeout_s)) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        try:
            conn.execute(_CREATE_LEDGER)
            done = {int(v): str(h) for v, h in conn.execute("SELECT version, sha256 FROM schema_migrations")}
            for mig in migrations:
                if mig.version in done:
                    if done[mig.version] != mig.sha256:
                        raise MigrationError(
                            f"{mig.path.name} was changed after it was applied (sha256 differs); "
                            "never edit an applied migration, add a new one")
                    continue
                with conn.transaction():
                    conn.execute(mig.sql.encode())
                    conn.execute("INSERT INTO schema_migrations (version, name, sha256) VALUES (%s, %s, %s)",
                                 (mig.version, mig.name, mig.sha256))
                log.info("applied migration %s", mig.path.name)
                applied_now.append(mig.path.name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
    return applied_now


# --- chunk sizing ------------------------------------------------------------------------

BYTES_PER_ROW_ON_DISK = 130
"""Measured with hypertable_detailed_size after COPY: heap ≈ 61 B/row (24 B tuple header, 26 B of
data aligned to 32, 4 B item pointer) plus ≈ 68 B/row for the (tag_id, ts) and (ts) indexes."""

TARGET_CHUNK_BYTES = 256 * 1024**2
"""A chunk and its indexes should fit in ~25 % of a 1 GiB memory budget for recent data."""


CHUNK_STEPS_H = (1, 2, 4, 6, 12, 24, 48, 96, 168)


def chunk_interval_for(rows_per_day: float, target_chunk_bytes: int = TARGET_CHUNK_BYTES) -> timedelta:
    """Largest step of 1 h … 7 d whose chunk holds at most target_chunk_bytes (1 h if even that is more)."""
    if rows_per_day <= 0:
        return timedelta(days=7)
    ideal_hours = target_chunk_bytes / BYTES_PER_ROW_ON_DISK / rows_per_day * 24
    fitting = [h for h in CHUNK_STEPS_H if h <= ideal_hours]
    return timedelta(hours=fitting[-1] if fitting else 1)


def tune_chunk_interval(conn: psycopg.Connection[object], rows_per_day: float) -> timedelta:
    """Set the samples chunk interval for the expected load; applies to chunks created from now on."""
    interval = chunk_interval_for(rows_per_day)
    conn.execute("SELECT set_chunk_time_interval('samples', %s::interval)", (interval,))
    return interval
