"""Incremental 1-minute and 1-hour rollups, our own job because the Apache edition lacks continuous aggregates.

Each resolution has a watermark (buckets before it are folded) and a dirty_from marker (the
oldest late row that arrived below the watermark: the writer sets it for 1m, the 1m job for 1h).
A step locks its state row, folds whole buckets over [a, b) with an idempotent
INSERT … SELECT time_bucket … ON CONFLICT DO UPDATE (every bucket is recomputed from its
source, so a re-run gives the same rows), moves the watermark and clears what it refolded.
The first step of each run also re-runs the last `rerun_buckets` buckets, for late rows that
slipped past the marker. 1m folds from raw samples, 1h from samples_1m (sum and good_count
make averages refold exactly). min/max/sum/first/last are over Good-quality samples only.

Where `SHOW timescaledb.license` is `timescale`, continuous aggregates are created instead
(`ensure_continuous_aggregates`); that path cannot be tested on the Apache build here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg

from plantctl.samples import utcnow

log = logging.getLogger(__name__)

_GOOD = "(quality & 192) = 192"  # OPC DA quality class Good (plantctl/quality.py)

_FOLD_1M = f"""
INSERT INTO samples_1m (tag_id, bucket, min, max, sum, first, last, count, good_count)
SELECT tag_id, time_bucket(INTERVAL '1 minute', ts) AS b,
       min(value) FILTER (WHERE {_GOOD}), max(value) FILTER (WHERE {_GOOD}),
       sum(value) FILTER (WHERE {_GOOD}),
       first(value, ts) FILTER (WHERE {_GOOD}), last(value, ts) FILTER (WHERE {_GOOD}),
       count(*), count(*) FILTER (WHERE {_GOOD})
  FROM samples WHERE ts >= %(a)s AND ts < %(b)s
 GROUP BY tag_id, b
ON CONFLICT (tag_id, bucket) DO UPDATE SET
  min = EXCLUDED.min, max = EXCLUDED.max, sum = EXCLUDED.sum, first = EXCLUDED.first,
  last = EXCLUDED.last, count = EXCLUDED.count, good_count = EXCLUDED.good_count
"""

_FOLD_1H = """
INSERT INTO samples_1h (tag_id, bucket, min, max, sum, first, last, count, good_count)
SELECT tag_id, time_bucket(INTERVAL '1 hour', bucket) AS b,
       min(min), max(max), sum(sum),
       first(first, bucket) FILTER (WHERE good_count > 0),
       last(last, bucket) FILTER (WHERE good_count > 0),
       sum(count)::integer, sum(good_count)::integer
  FROM samples_1m WHERE bucket >= %(a)s AND bucket < %(b)s
 GROUP BY tag_id, b
ON CONFLICT (tag_id, bucket) DO UPDATE SET
  min = EXCLUDED.min, max = EXCLUDED.max, sum = EXCLUDED.sum, first = EXCLUDED.first,
  last = EXCLUDED.last, count = EXCLUDED.count, good_count = EXCLUDED.good_count
"""


@dataclass(frozen=True, slots=True)
class RollupSettings:
    """settle_s: a bucket is closed once its end is this many seconds in the past; spans bound one transaction."""

    settle_s: float = 10.0
    rerun_buckets: int = 2
    span_1m: timedelta = timedelta(hours=6)
    span_1h: timedelta = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class RollupState:
    resolution: str
    watermark: datetime | None  # None: nothing folded yet
    dirty_from: datetime | None


@dataclass(slots=True)
class RollupReport:
    """What one run folded: per resolution, the [a, b) windows in order."""

    windows: dict[str, list[tuple[datetime, datetime]]] = field(
        default_factory=lambda: {"1m": [], "1h": []})


def floor_to(ts: datetime, width: timedelta) -> datetime:
    """time_bucket's alignment for a fixed width: its default origin 2000-01-03 00:00 UTC (a Monday)."""
    origin = datetime.fromisoformat("2000-01-03T00:00:00+00:00")
    return origin + ((ts - origin) // width) * width


async def license_of(conn: psycopg.AsyncConnection[Any]) -> str:
    """'apache' or 'timescale' (the community licence, with continuous aggregates and policies)."""
    cur = await conn.execute("SHOW timescaledb.license")
    row = await cur.fetchone()
    return str(row[0]) if row else "apache"


async def rollup_states(conn: psycopg.AsyncConnection[Any]) -> dict[str, RollupState]:
    cur = await conn.execute("SELECT resolution, NULLIF(watermark, '-infinity'), dirty_from "
                             "FROM historian_rollup_state")
    return {str(r): RollupState(str(r), w, d) for r, w, d in await cur.fetchall()}


async def _step(conn: psycopg.AsyncConnection[Any], resolution: str, end_limit: datetime | None,
                first: bool, settings: RollupSettings) -> tuple[datetime, datetime] | None:
    """Fold one window of one resolution in one transaction; None when there is nothing to fold."""
    width = timedelta(minutes=1) if resolution == "1m" else timedelta(hours=1)
    span = settings.span_1m if resolution == "1m" else settings.span_1h
    async with conn.transaction():
        cur = await conn.execute(
            "SELECT NULLIF(watermark, '-infinity'), dirty_from FROM historian_rollup_state "
            "WHERE resolution = %s FOR UPDATE", (resolution,))
        row = await cur.fetchone()
        if row is None:
            raise RuntimeError("historian_rollup_state is missing its rows: run the migrations")
        wm, dirty = row
        if end_limit is None:
            return None
        end = floor_to(end_limit, width)
        if wm is None:
            source = "SELECT min(ts) FROM samples" if resolution == "1m" else "SELECT min(bucket) FROM samples_1m"
            first_row = await (await conn.execute(source)).fetchone()
            if first_row is None or first_row[0] is None:
                return None
            a = floor_to(first_row[0], width)
        else:
            candidates = [wm]
            if dirty is not None:
                candidates.append(dirty)
            if first:
                candidates.append(wm - settings.rerun_buckets * width)
            a = floor_to(min(candidates), width)
        if a >= end:
            return None
        b = min(a + span, end)
        await conn.execute(_FOLD_1M if resolution == "1m" else _FOLD_1H,
                           {"a": a, "b": b})
        new_wm = b if wm is None else max(wm, b)
        new_dirty = dirty
        if dirty is not None and dirty < b:
            new_dirty = b if b < new_wm else None
        await conn.execute("UPDATE historian_rollup_state SET watermark = %s, dirty_from = %s, "
                           "updated = now() WHERE resolution = %s", (new_wm, new_dirty, resolution))
        if resolution == "1m":
            # The hour rollup folded from buckets we just refolded must fold them again.
            await conn.execute(
                "UPDATE historian_rollup_state SET dirty_from = LEAST(COALESCE(dirty_from, %s), %s), "
                "updated = now() WHERE resolution = '1h' AND watermark > %s", (a, a, a))
        return a, b


async def run_rollups(conn: psycopg.AsyncConnection[Any], now: datetime | None = None,
                      settings: RollupSettings | None = None) -> RollupReport:
    """Fold every closed 1m bucket, then every 1h bucket whose minutes are folded; idempotent."""
    settings = settings or RollupSettings()
    now = now or utcnow()
    report = RollupReport()
    first = True
    while (window := await _step(conn, "1m", now - timedelta(seconds=settings.settle_s), first,
                                 settings)) is not None:
        report.windows["1m"].append(window)
        first = False
    states = await rollup_states(conn)
    first = True
    while (window := await _step(conn, "1h", states["1m"].watermark, first, settings)) is not None:
        report.windows["1h"].append(window)
        first = False
    return report


# --- licensed TimescaleDB (community edition): continuous aggregates ------------------------

_CAGG = """
CREATE MATERIALIZED VIEW IF NOT EXISTS {name} WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT tag_id, time_bucket(INTERVAL '{width}', ts) AS bucket,
       min(value) FILTER (WHERE {good}) AS min, max(value) FILTER (WHERE {good}) AS max,
       sum(value) FILTER (WHERE {good}) AS sum,
       first(value, ts) FILTER (WHERE {good}) AS first, last(value, ts) FILTER (WHERE {good}) AS last,
       count(*)::integer AS count, (count(*) FILTER (WHERE {good}))::integer AS good_count
  FROM samples GROUP BY tag_id, bucket WITH NO DATA
"""


async def ensure_continuous_aggregates(conn: psycopg.AsyncConnection[Any]) -> None:
    """Timescale-licensed servers: real-time continuous aggregates samples_1m_cagg/_1h_cagg, refresh policies.

    Untested here (the local build is Apache); queries read these views when they exist.
    """
    for name, width, offset, period in (("samples_1m_cagg", "1 minute", "2 minutes", "1 minute"),
                                        ("samples_1h_cagg", "1 hour", "2 hours", "30 minutes")):
        await conn.execute(_CAGG.format(name=name, width=width, good=_GOOD).encode())
        await conn.execute(
            f"SELECT add_continuous_aggregate_policy('{name}', start_offset => NULL, "
            f"end_offset => INTERVAL '{offset}', schedule_interval => INTERVAL '{period}', "
            "if_not_exists => true)".encode())
