"""Reads for trends and faceplates: raw range, last value per tag, and bucketed aggregates.

Bucketed reads pick a "nice" bucket width from the number of points asked for, widen the
range to whole buckets, and are served from samples_1h or samples_1m when the width is a
multiple of theirs and the rollup covers the range (watermark past its end, nothing dirty
before its end). A range that ends past the rollups' final part — every trend ending "now" — is
read from the rollup up to the last final whole bucket and from raw samples after it ("1h+raw",
"1m+raw"); otherwise from raw samples. Every result carries the tag's engineering unit
and aware-UTC timestamps, whatever the session's TimeZone. min/max/avg/first/last are over Good-quality samples only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import psycopg

from plantctl.historian.rollups import RollupState, floor_to, rollup_states
from plantctl.quality import quality_from_code
from plantctl.samples import Sample

Source = Literal["raw", "1m", "1h", "1m+raw", "1h+raw"]

NICE_WIDTHS: tuple[timedelta, ...] = tuple(timedelta(seconds=s) for s in (
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800,
    3600, 7200, 10800, 21600, 43200, 86400))
_DAY = timedelta(days=1)
_GOOD = "(quality & 192) = 192"


class QueryError(ValueError):
    """A read asked for something that cannot be answered (unknown tag, empty range, naive time)."""


@dataclass(frozen=True, slots=True)
class TagInfo:
    id: int
    name: str
    unit: str
    description: str


@dataclass(frozen=True, slots=True)
class RawSeries:
    tag: str
    unit: str
    samples: list[Sample]
    truncated: bool  # True when `limit` cut the range short


@dataclass(frozen=True, slots=True)
class LastValue:
    sample: Sample
    unit: str


@dataclass(frozen=True, slots=True)
class Bucket:
    """Aggregates of one bucket [start, start + width); value fields are None when no Good sample fell in it."""

    start: datetime
    min: float | None
    max: float | None
    avg: float | None
    first: float | None
    last: float | None
    count: int
    good_count: int


@dataclass(frozen=True, slots=True)
class BucketSeries:
    tag: str
    unit: str
    start: datetime  # the asked range widened to whole buckets
    end: datetime
    width: timedelta
    source: Source
    buckets: list[Bucket]


def nice_width(span: timedelta, points: int) -> timedelta:
    """The smallest width from 1-2-5-style steps (1 s … 1 d, then whole days) giving at most `points` buckets."""
    if points < 1:
        raise QueryError(f"points must be at least 1, not {points}")
    raw = span / points
    for w in NICE_WIDTHS:
        if w >= raw:
            return w
    return _DAY * -(-raw // _DAY)  # whole days, rounded up


def _check_range(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise QueryError("start and end must be timezone-aware (UTC)")
    if not start < end:
        raise QueryError(f"start {start.isoformat()} is not before end {end.isoformat()}")


async def tag_info(conn: psycopg.AsyncConnection[Any], tag: str) -> TagInfo:
    cur = await conn.execute("SELECT id, name, unit, description FROM tags WHERE name = %s", (tag,))
    row = await cur.fetchone()
    if row is None:
        raise QueryError(f"unknown tag {tag!r}")
    return TagInfo(int(row[0]), str(row[1]), str(row[2]), str(row[3]))


async def raw_samples(conn: psycopg.AsyncConnection[Any], tag: str, start: datetime, end: datetime,
                      limit: int = 100_000) -> RawSeries:
    """Stored samples of one tag with start <= ts < end, oldest first, at most `limit`."""
    _check_range(start, end)
    info = await tag_info(conn, tag)
    cur = await conn.execute(
        "SELECT ts, value, quality FROM samples WHERE tag_id = %s AND ts >= %s AND ts < %s "
        "ORDER BY ts LIMIT %s", (info.id, start, end, limit + 1))
    rows = await cur.fetchall()
    samples = [Sample(tag, ts.astimezone(UTC), value, quality_from_code(q)) for ts, value, q in rows[:limit]]
    return RawSeries(tag, info.unit, samples, truncated=len(rows) > limit)


async def last_values(conn: psycopg.AsyncConnection[Any]) -> dict[str, LastValue]:
    """The newest sample of every tag that has one: one index probe per tag (tag_id, ts DESC)."""
    cur = await conn.execute(
        "SELECT t.name, t.unit, s.ts, s.value, s.quality FROM tags t CROSS JOIN LATERAL "
        "(SELECT ts, value, quality FROM samples WHERE tag_id = t.id ORDER BY ts DESC LIMIT 1) s")
    return {str(name): LastValue(Sample(str(name), ts.astimezone(UTC), value, quality_from_code(q)), str(unit))
            for name, unit, ts, value, q in await cur.fetchall()}


def _covered(states: dict[str, RollupState], resolutions: tuple[str, ...], end: datetime) -> bool:
    for r in resolutions:
        st = states.get(r)
        if st is None or st.watermark is None or st.watermark < end:
            return False
        if st.dirty_from is not None and st.dirty_from < end:
            return False
    return True


def final_until(states: dict[str, RollupState], resolutions: tuple[str, ...]) -> datetime | None:
    """Up to when every one of these rollups is final (watermark, and nothing dirty before it)."""
    ends: list[datetime] = []
    for r in resolutions:
        st = states.get(r)
        if st is None or st.watermark is None:
            return None
        ends.append(st.watermark if st.dirty_from is None else min(st.watermark, st.dirty_from))
    return min(ends)


def split_source(width: timedelta, start: datetime, states: dict[str, RollupState]) -> tuple[Source, datetime] | None:
    """For a range the rollups cover only in part: the rollup and the bucket boundary where raw takes over."""
    for res, unit, needs in (("1h", timedelta(hours=1), ("1m", "1h")), ("1m", timedelta(minutes=1), ("1m",))):
        if width % unit:
            continue
        until = final_until(states, needs)
        if until is not None and floor_to(until, width) > start:
            return ("1h+raw" if res == "1h" else "1m+raw"), floor_to(until, width)
    return None


def choose_source(width: timedelta, end: datetime, states: dict[str, RollupState] | None) -> Source:
    """The coarsest table whose buckets divide `width` and whose rollup is final up to `end`.

    states None means real-time continuous aggregates (licensed TimescaleDB): always final.
    """
    if width % timedelta(hours=1) == timedelta(0) and (states is None or _covered(states, ("1m", "1h"), end)):
        return "1h"
    if width % timedelta(minutes=1) == timedelta(0) and (states is None or _covered(states, ("1m",), end)):
        return "1m"
    return "raw"


_FROM_RAW = f"""
SELECT time_bucket(%(w)s, ts) AS b,
       min(value) FILTER (WHERE {_GOOD}), max(value) FILTER (WHERE {_GOOD}),
       avg(value) FILTER (WHERE {_GOOD}),
       first(value, ts) FILTER (WHERE {_GOOD}), last(value, ts) FILTER (WHERE {_GOOD}),
       count(*), count(*) FILTER (WHERE {_GOOD})
  FROM samples WHERE tag_id = %(tag)s AND ts >= %(a)s AND ts < %(b)s
 GROUP BY b ORDER BY b
"""

_FROM_ROLLUP = """
SELECT time_bucket(%(w)s, bucket) AS b,
       min(min), max(max), sum(sum) / NULLIF(sum(good_count), 0),
       first(first, bucket) FILTER (WHERE good_count > 0), last(last, bucket) FILTER (WHERE good_count > 0),
       sum(count), sum(good_count)
  FROM {table} WHERE tag_id = %(tag)s AND bucket >= %(a)s AND bucket < %(b)s
 GROUP BY b ORDER BY b
"""


async def bucketed(conn: psycopg.AsyncConnection[Any], tag: str, start: datetime, end: datetime,
                   points: int = 500, source: Source | None = None, continuous: bool = False) -> BucketSeries:
    """About `points` buckets over [start, end) (widened to whole buckets); empty buckets are omitted.

    continuous: read the licensed edition's continuous aggregates (samples_1m_cagg, samples_1h_cagg).
    """
    _check_range(start, end)
    info = await tag_info(conn, tag)
    width = nice_width(end - start, points)
    a = floor_to(start, width)
    b = a + -(-(end - a) // width) * width
    cut: datetime | None = None
    if source is None:
        states = None if continuous else await rollup_states(conn)
        source = choose_source(width, b, states)
        if source == "raw" and states is not None:
            split = split_source(width, a, states)
            if split is not None:
                source, cut = split
    parts: list[tuple[str, datetime, datetime]] = [(source, a, b)] if cut is None else [
        (source.removesuffix("+raw"), a, cut), ("raw", cut, b)]
    rows: list[Any] = []
    for part, lo, hi in parts:
        if part == "raw":
            query = _FROM_RAW
        else:
            table = ("samples_1h" if part == "1h" else "samples_1m") + ("_cagg" if continuous else "")
            query = _FROM_ROLLUP.format(table=table)
        cur = await conn.execute(query.encode(), {"w": width, "tag": info.id, "a": lo, "b": hi})
        rows.extend(await cur.fetchall())
    buckets = [Bucket(ts.astimezone(UTC), mn, mx, avg, fst, lst, int(n), int(g))
               for ts, mn, mx, avg, fst, lst, n, g in rows]
    return BucketSeries(tag, info.unit, a, b, width, source, buckets)
