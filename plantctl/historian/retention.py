"""Retention per resolution: drop whole chunks older than the configured days, on our own schedule.

The Apache edition has drop_chunks but not add_retention_policy; where the licence is
`timescale`, `ensure_retention_policies` registers the built-in policies instead.
A chunk is dropped only when all of it is older than the cutoff, so up to one chunk interval
more than the retention is kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from plantctl.config.models import RetentionConfig
from plantctl.samples import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetentionReport:
    """Chunks dropped per table, and the cutoff used."""

    dropped: dict[str, list[str]]
    cutoffs: dict[str, datetime]


def _plan(retention: RetentionConfig) -> list[tuple[str, timedelta]]:
    return [("samples", timedelta(days=retention.raw_days)),
            ("samples_1m", timedelta(days=retention.rollup_1m_days)),
            ("samples_1h", timedelta(days=retention.rollup_1h_days))]


async def apply_retention(conn: psycopg.AsyncConnection[Any], retention: RetentionConfig,
                          now: datetime | None = None) -> RetentionReport:
    """Drop chunks of raw and rollup hypertables that lie wholly before now − retention."""
    now = now or utcnow()
    dropped: dict[str, list[str]] = {}
    cutoffs: dict[str, datetime] = {}
    for table, keep in _plan(retention):
        cutoff = now - keep
        cur = await conn.execute("SELECT drop_chunks(%s::regclass, older_than => %s::timestamptz)",
                                 (table, cutoff))
        names = [str(r[0]) for r in await cur.fetchall()]
        dropped[table], cutoffs[table] = names, cutoff
        if names:
            log.info("retention: dropped %d chunks of %s older than %s", len(names), table, cutoff.isoformat())
    return RetentionReport(dropped, cutoffs)


async def ensure_retention_policies(conn: psycopg.AsyncConnection[Any], retention: RetentionConfig) -> None:
    """Timescale-licensed servers only (FeatureNotSupported on Apache): built-in retention jobs."""
    for table, keep in _plan(retention):
        await conn.execute("SELECT add_retention_policy(%s::regclass, drop_after => %s::interval, "
                           "if_not_exists => true)", (table, keep))
