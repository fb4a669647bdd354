"""Versioned SQL migrations of every subsystem, kept beside it, applied from here in one order.

Each subsystem keeps its ``NNNN_<what>.sql`` files in a ``migrations/`` folder beside its code;
MIGRATION_FOLDERS is the one registry of those folders. Versions are unique across all folders
(each part owns a range: 0001-0099 historian, 0100-0199 alarms and audit, 0200-0299 auth,
0300-0399 control, 0500-0599 reports, 0600-0699 notifications, 0700-0799 logbook) and the files are
applied in version order, once each, every file in its own transaction together with its row in ``schema_migrations``.
A session-level advisory lock serialises starters, so two services starting at once apply each file
once. The folders are named by path, not imported: this module stays below the packages whose schema it applies.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psycopg

log = logging.getLogger(__name__)

_PACKAGES = Path(__file__).resolve().parents[2]  # the folder holding plantctl/, api/, control/ …
MIGRATION_FOLDERS: tuple[Path, ...] = (
    _PACKAGES / "plantctl" / "historian" / "migrations",  # 0001-0099: samples, rollups
    _PACKAGES / "plantctl" / "alarms" / "migrations",  # 0100, 0102: alarm journal and state
    _PACKAGES / "plantctl" / "audit" / "migrations",  # 0101, 0103: audit trail
    _PACKAGES / "api" / "auth" / "migrations",  # 0200-0299: users, sessions, tokens
    _PACKAGES / "plantctl" / "runtime" / "migrations",  # 0300-0399: loop state and events
    _PACKAGES / "plantctl" / "reports" / "migrations",  # 0500-0599: filed discharge reports
    _PACKAGES / "plantctl" / "notify" / "migrations",  # 0600-0699: on-call notification
    _PACKAGES / "plantctl" / "logbook" / "migrations",  # 0700-0799: the operators' shift logbook
)
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
    """The migrations folders or the database's migration ledger is inconsistent."""


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


def _folders(directories: Path | Iterable[Path] | None) -> list[Path]:
    if directories is None:
        return list(MIGRATION_FOLDERS)
    if isinstance(directories, Path):
        return [directories]
    return list(directories)


def discover(directories: Path | Iterable[Path] | None = None) -> list[Migration]:
    """The migration files of the given folders (default: the registry) in version order.

    A badly named file, a missing folder or a version used twice (in one folder or across two) is an error.
    """
    found: dict[int, Migration] = {}
    for directory in _folders(directories):
        if not directory.is_dir():
            raise MigrationError(f"{directory}: migrations folder missing")
        for path in sorted(directory.iterdir()):
            if path.suffix != ".sql":
                continue
            m = _FILE_NAME.match(path.name)
            if m is None:
                raise MigrationError(
                    f"{path}: migration files are named NNNN_<lower_case_name>.sql, e.g. 0002_alarm_journal.sql")
            version = int(m.group(1))
            if version in found:
                raise MigrationError(f"{path} and {found[version].path} share version {version:04d}")
            found[version] = Migration(version, m.group(2), path)
    return [found[v] for v in sorted(found)]


def apply_migrations(database_url: str, directories: Path | Iterable[Path] | None = None,
                     connect_timeout_s: float = 10) -> list[str]:
    """Apply the migrations not yet applied (default: every registered folder); returns the file names applied now."""
    migrations = discover(directories)
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
