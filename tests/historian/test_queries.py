"""Reads against the real TimescaleDB, checked against values computed in the test from the inserted samples."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from plantctl.db import LocalDatabase
from plantctl.historian.migrate import apply_migrations
from plantctl.historian.queries import QueryError, bucketed, last_values, nice_width, raw_samples
from plantctl.historian.rollups import run_rollups
from plantctl.quality import Quality
from plantctl.samples import Sample
from tests.historian.conftest import T0, expected_buckets, series, store

pytestmark = [pytest.mark.anyio, pytest.mark.db]
S = timedelta(seconds=1)


def plant_day() -> list[Sample]:
    """Two tags, 6 h at 5 s, every 7th Uncertain, AIT-100 silent 09:00-09:30 and Bad 10:00-10:03."""
    out: list[Sample] = []
    for i, tag in enumerate(("AIT-100", "AIT-101")):
        for s in series(tag, T0, 5 * S, 6 * 720, value0=10.0 * i, quality_every=7):
            if tag == "AIT-100" and T0 + timedelta(hours=1) <= s.ts < T0 + timedelta(hours=1, minutes=30):
                continue
            if tag == "AIT-100" and T0 + timedelta(hours=2) <= s.ts < T0 + timedelta(hours=2, minutes=3):
                s = Sample(s.tag, s.ts, s.value, Quality.BAD_SENSOR_FAILURE)
            out.append(s)
    return out


def _as_tuples(series_buckets: list) -> list[tuple]:  # type: ignore[type-arg]
    return [(b.start, b.min, b.max, b.avg, b.first, b.last, b.count, b.good_count) for b in series_buckets]


def _assert_same(got: list[tuple], want: list[tuple]) -> None:  # type: ignore[type-arg]
    assert [g[0] for g in got] == [w[0] for w in want]
    for g, w in zip(got, want, strict=True):
        assert g[1:3] == w[1:3] and g[4:] == w[4:], (g, w)
        assert (g[3] is None and w[3] is None) or g[3] == pytest.approx(w[3], rel=1e-12)


@pytest.fixture(scope="module")
def loaded(db_server: LocalDatabase, core_migrations: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[str, list[Sample]]]:
    """One loaded database for the read-only tests of this module (rollups only ever run to T0 + 7 h)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = db_server.create_database(name)
    apply_migrations(url, core_migrations)
    data = plant_day()
    asyncio.run(store(url, tmp_path_factory.mktemp("state"), data, 2))
    yield url, data
    db_server.drop_database(name)


async def test_raw_range_is_exact_and_limit_is_flagged(loaded: tuple[str, list[Sample]]) -> None:
    url, data = loaded
    a, b = T0 + timedelta(minutes=10), T0 + timedelta(minutes=20)
    want = [s for s in data if s.tag == "AIT-101" and a <= s.ts < b]
    async with await psycopg.AsyncConnection.connect(url) as conn:
        got = await raw_samples(conn, "AIT-101", a, b)
        assert got.unit == "pH" and got.samples == want and not got.truncated
        assert all(s.ts.tzinfo is not None and s.ts.utcoffset() == timedelta(0) for s in got.samples)
        cut = await raw_samples(conn, "AIT-101", a, b, limit=5)
        assert cut.samples == want[:5] and cut.truncated


async def test_results_are_utc_whatever_the_session_time_zone(loaded: tuple[str, list[Sample]]) -> None:
    url, _ = loaded
    async with await psycopg.AsyncConnection.connect(url, options="-c timezone=Asia/Kolkata") as conn:
        raw = await raw_samples(conn, "AIT-101", T0, T0 + timedelta(minutes=1))
        hourly = await bucketed(conn, "AIT-101", T0, T0 + timedelta(hours=6), points=6)
        last = await last_values(conn)
    stamps = [s.ts for s in raw.samples] + [b.start for b in hourly.buckets] + [last["AIT-101"].sample.ts]
    assert all(ts.tzinfo is UTC for ts in stamps)
    assert [b.start for b in hourly.buckets] == [T0 + timedelta(hours=h) for h in range(6)]  # UTC hours


async def test_last_value_of_every_tag(loaded: tuple[str, list[Sample]]) -> None:
    url, data = loaded
    async with await psycopg.AsyncConnection.connect(url) as conn:
        last = await last_values(conn)
    for tag in ("AIT-100", "AIT-101"):
        newest = max((s for s in data if s.tag == tag), key=lambda s: s.ts)
        assert last[tag].sample == newest and last[tag].unit == "pH"


async def test_bucketed_from_raw_matches_python(loaded: tuple[str, list[Sample]]) -> None:
    url, data = loaded
    a, b = T0 + timedelta(minutes=3, seconds=7), T0 + timedelta(hours=6)
    async with await psycopg.AsyncConnection.connect(url) as conn:
        got = await bucketed(conn, "AIT-100", a, b, points=50, source="raw")
    assert got.width == timedelta(minutes=10) and got.source == "raw"  # 5 h 57 min / 50 = 7.1 min → 10 min
    assert got.start == T0 and got.end == T0 + timedelta(hours=6)     # widened to whole buckets
    want = expected_buckets([s for s in data if s.tag == "AIT-100"], got.width, got.start, got.end)
    _assert_same(_as_tuples(got.buckets), want)
    assert not any(w[0] == T0 + timedelta(hours=1, minutes=10) for w in want)  # silent stretch: no bucket


@pytest.mark.parametrize(("points", "width", "source"), [
    (6, timedelta(hours=1), "1h"), (36, timedelta(minutes=10), "1m"), (1000, timedelta(seconds=30), "raw")])
async def test_bucketed_from_rollups_matches_python(
        loaded: tuple[str, list[Sample]], points: int, width: timedelta, source: str) -> None:
    url, data = loaded
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await run_rollups(conn, now=T0 + timedelta(hours=7))
        got = await bucketed(conn, "AIT-100", T0, T0 + timedelta(hours=6), points=points)
    assert got.width == width and got.source == source
    want = expected_buckets([s for s in data if s.tag == "AIT-100"], width, T0, T0 + timedelta(hours=6))
    _assert_same(_as_tuples(got.buckets), want)
    bad = next(x for x in want if x[0] == T0 + timedelta(hours=2))
    assert bad[7] < bad[6]  # the Bad stretch counts but is not averaged


async def test_a_range_past_the_final_rollups_reads_them_up_to_there_and_raw_after(
        historian_db: str, tmp_path: Path) -> None:
    """Every trend ending "now" is such a range: the tail is raw, the rest from the rollup."""
    data = plant_day()
    await store(historian_db, tmp_path, data, 2)
    async with await psycopg.AsyncConnection.connect(historian_db, autocommit=True) as conn:
        before = await bucketed(conn, "AIT-101", T0, T0 + timedelta(hours=6), points=6)
        await run_rollups(conn, now=T0 + timedelta(hours=3))  # rollups final only up to 03:00
        partly = await bucketed(conn, "AIT-101", T0, T0 + timedelta(hours=6), points=6)
        inside = await bucketed(conn, "AIT-101", T0, T0 + timedelta(hours=2), points=2)
        minutes = await bucketed(conn, "AIT-101", T0, T0 + timedelta(hours=6), points=36)  # 10-min buckets
        fine = await bucketed(conn, "AIT-101", T0, T0 + timedelta(hours=6), points=1000)  # 30 s: raw only
    assert (before.source, partly.source, inside.source) == ("raw", "1h+raw", "1h")
    assert (minutes.source, fine.source) == ("1m+raw", "raw")
    ait = [s for s in data if s.tag == "AIT-101"]
    for got in (before, partly, minutes, fine):  # bucket for bucket what the raw samples give
        _assert_same(_as_tuples(got.buckets), expected_buckets(ait, got.width, T0, T0 + timedelta(hours=6)))


def test_nice_widths() -> None:
    assert nice_width(timedelta(hours=1), 3600) == timedelta(seconds=1)
    assert nice_width(timedelta(hours=1), 100) == timedelta(seconds=60)   # 36 s → 1 min
    assert nice_width(timedelta(days=1), 300) == timedelta(minutes=5)     # 4.8 min → 5 min
    assert nice_width(timedelta(days=30), 10) == timedelta(days=3)
    with pytest.raises(QueryError, match="at least 1"):
        nice_width(timedelta(hours=1), 0)


async def test_bad_requests_get_clear_errors(loaded: tuple[str, list[Sample]]) -> None:
    async with await psycopg.AsyncConnection.connect(loaded[0]) as conn:
        with pytest.raises(QueryError, match="unknown tag 'NOPE'"):
            await raw_samples(conn, "NOPE", T0, T0 + S)
        with pytest.raises(QueryError, match="timezone-aware"):
            await bucketed(conn, "NOPE", datetime(2026, 1, 1), datetime(2026, 1, 2, tzinfo=UTC))
        with pytest.raises(QueryError, match="is not before"):
            await raw_samples(conn, "NOPE", T0 + S, T0)
