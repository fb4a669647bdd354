"""Our rollup job on the Apache edition: tables equal raw aggregates, re-runs are idempotent, late rows refold."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from plantctl.historian.queries import bucketed
from plantctl.historian.rollups import license_of, rollup_states, run_rollups
from plantctl.samples import Sample
from tests.historian.conftest import T0, expected_buckets, series, store

pytestmark = [pytest.mark.anyio, pytest.mark.db]
S = timedelta(seconds=1)
Table = list[tuple[str, datetime, float | None, float | None, float | None, float | None, float | None, int, int]]


def table(url: str, name: str) -> Table:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            f"SELECT t.name, r.bucket, r.min, r.max, r.sum / NULLIF(r.good_count, 0), r.first, r.last, "
            f"r.count, r.good_count FROM {name} r JOIN tags t ON t.id = r.tag_id ORDER BY 1, 2").fetchall()
    return [tuple(r) for r in rows]


def python_table(data: list[Sample], width: timedelta, end: datetime) -> Table:
    out: Table = []
    for tag in sorted({s.tag for s in data}):
        for b in expected_buckets([s for s in data if s.tag == tag], width, T0 - timedelta(days=1), end):
            out.append((tag, *b))
    return out


def assert_tables_equal(got: Table, want: Table) -> None:
    assert [(g[0], g[1]) for g in got] == [(w[0], w[1]) for w in want]
    for g, w in zip(got, want, strict=True):
        assert g[2:4] == w[2:4] and g[5:] == w[5:], (g, w)
        assert (g[4] is None and w[4] is None) or g[4] == pytest.approx(w[4], rel=1e-12)


async def test_the_local_edition_is_apache(historian_db: str) -> None:
    async with await psycopg.AsyncConnection.connect(historian_db, autocommit=True) as conn:
        assert await license_of(conn) == "apache"
        with pytest.raises(psycopg.errors.FeatureNotSupported):  # why we run our own job
            await conn.execute("CREATE MATERIALIZED VIEW v WITH (timescaledb.continuous) AS "
                               "SELECT tag_id, time_bucket('1 minute', ts) b, avg(value) FROM samples GROUP BY 1, 2 "
                               "WITH NO DATA")


async def test_rollups_equal_raw_aggregates_and_rerun_changes_nothing(historian_db: str, tmp_path: Path) -> None:
    data = series("AIT-100", T0, 7 * S, 2000, quality_every=5) + series("AIT-101", T0, 3 * S, 3000, value0=50)
    await store(historian_db, tmp_path, data, 2)
    now = T0 + timedelta(hours=3, minutes=30, seconds=5)
    async with await psycopg.AsyncConnection.connect(historian_db, autocommit=True) as conn:
        report = await run_rollups(conn, now=now)
        states = await rollup_states(conn)
    # 1m: closed buckets end at floor(now - 10 s) = 03:29; 1h: whole hours below that = 03:00
    assert states["1m"].watermark == T0 + timedelta(hours=3, minutes=29) and states["1m"].dirty_from is None
    assert states["1h"].watermark == T0 + timedelta(hours=3)
    assert report.windows["1m"] == [(T0, T0 + timedelta(hours=3, minutes=29))]
    assert_tables_equal(table(historian_db, "samples_1m"), python_table(data, 60 * S, states["1m"].watermark))
    assert_tables_equal(table(historian_db, "samples_1h"), python_table(data, 3600 * S, states["1h"].watermark))
    before = table(historian_db, "samples_1m")
    async with await psycopg.AsyncConnection.connect(historian_db, autocommit=True) as conn:
        again = await run_rollups(conn, now=now)
    assert again.windows["1m"] == [(T0 + timedelta(hours=3, minutes=27), T0 + timedelta(hours=3, minutes=29))]
    assert table(historian_db, "samples_1m") == before


async def test_late_rows_mark_the_rollup_dirty_and_are_refolded(historian_db: str, tmp_path: Path) -> None:
    data = series("AIT-100", T0, 10 * S, 1080)  # 3 h at 10 s
    await store(historian_db, tmp_path / "a", data, 1)
    now = T0 + timedelta(hours=3, minutes=1)
    async with await psycopg.AsyncConnection.connect(historian_db, autocommit=True) as conn:
        await run_rollups(conn, now=now)
    late = [Sample("AIT-100", T0 + timedelta(minutes=30, seconds=5 + 10 * k), 900.0 + k) for k in range(6)]
    await store(historian_db, tmp_path / "b", late, 1)  # a store-and-forward replay, say
    async with await psycopg.AsyncConnection.connect(historian_db, autocommit=True) as conn:
        states = await rollup_states(conn)
        assert states["1m"].dirty_from == late[0].ts
        stale = await bucketed(conn, "AIT-100", T0, T0 + timedelta(hours=2), points=2)
        assert stale.source == "raw"  # rollups not final: served from raw, already right
        await run_rollups(conn, now=now)
        states = await rollup_states(conn)
        fresh = await bucketed(conn, "AIT-100", T0, T0 + timedelta(hours=2), points=2)
    assert states["1m"].dirty_from is None and states["1h"].dirty_from is None
    assert states["1m"].watermark is not None and states["1h"].watermark is not None
    assert fresh.source == "1h"
    all_data = data + late
    assert_tables_equal(table(historian_db, "samples_1m"), python_table(all_data, 60 * S, states["1m"].watermark))
    assert_tables_equal(table(historian_db, "samples_1h"), python_table(all_data, 3600 * S, states["1h"].watermark))
    assert [(b.start, b.max, b.count) for b in fresh.buckets] == [
        (w[0], w[2], w[6]) for w in expected_buckets(all_data, 3600 * S, T0, T0 + timedelta(hours=2))]
    assert fresh.buckets[0].max == 905.0
