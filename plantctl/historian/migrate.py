"""The historian's schema: its migrations folder (plantctl.db.migrate applies every part's) and chunk sizing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import psycopg

from plantctl.db.migrate import MigrationError, apply_migrations, discover

__all__ = ["MIGRATIONS_DIR", "MigrationError", "apply_migrations", "chunk_interval_for", "discover",
           "tune_chunk_interval"]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
"""The historian's own migrations (0001-0099); the registry of every part's is plantctl.db.migrate."""


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
