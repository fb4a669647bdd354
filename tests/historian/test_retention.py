"""Retention by drop_chunks on our own schedule: old chunks go, recent ones stay, per resolution."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from plantctl.config.models import RetentionConfig
from plantctl.historian.retention import apply_retention
from tests.historian.conftest import T0, series, store

pytestmark = [pytest.mark.anyio, pytest.mark.db]
NOW = T0 + timedelta(days=1000)


async def test_old_chunks_are_dropped_and_recent_kept(historian_db: str, tmp_path: Path) -> None:
    ages_days = (900, 200, 95, 80, 10, 0.5)
    data = [s for age in ages_days for s in series("AIT-100", NOW - timedelta(days=age), timedelta(seconds=1), 60)]
    await store(historian_db, tmp_path, data, 1)
    with psycopg.connect(historian_db, autocommit=True) as conn:
        for age in (900, 800, 10):  # rollup rows too: 1m keeps 730 days by default
            conn.execute("INSERT INTO samples_1m (tag_id, bucket, count, good_count) VALUES (1, %s, 1, 0)",
                         (NOW - timedelta(days=age),))
    async with await psycopg.AsyncConnection.connect(historian_db, autocommit=True) as conn:
        report = await apply_retention(conn, RetentionConfig(raw_days=90), now=NOW)
    assert len(report.dropped["samples"]) == 3 and len(report.dropped["samples_1m"]) == 2
    assert report.dropped["samples_1h"] == []
    with psycopg.connect(historian_db) as conn:
        oldest = conn.execute("SELECT min(ts), count(*) FROM samples").fetchone()
        assert oldest == (NOW - timedelta(days=80), 180)
        kept_1m = conn.execute("SELECT bucket FROM samples_1m").fetchall()
        assert kept_1m == [(NOW - timedelta(days=10),)]
        chunks = conn.execute("SELECT count(*) FROM show_chunks('samples')").fetchone()
        assert chunks == (3,)
    async with await psycopg.AsyncConnection.connect(historian_db, autocommit=True) as conn:
        again = await apply_retention(conn, RetentionConfig(raw_days=90), now=NOW)
    assert again.dropped == {"samples": [], "samples_1m": [], "samples_1h": []}
