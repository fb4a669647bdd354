"""The Historian component end to end: start (migrations, chunk sizing, jobs), ingest, reads, stop."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from plantctl.historian import Historian, chunk_interval_for
from plantctl.historian.service import rows_per_day
from plantctl.samples import utcnow
from tests.historian.conftest import FAST_RECONNECT, fast_config, series, tag_configs, unreachable_url

pytestmark = [pytest.mark.anyio, pytest.mark.db]


async def test_start_ingest_read_stop(historian_db: str, core_migrations: Path, tmp_path: Path) -> None:
    fresh_database = historian_db
    tags = tag_configs(5)
    h = Historian(fresh_database, fast_config(), tags, state_dir=tmp_path, migrations_dir=core_migrations,
                  writer_settings=FAST_RECONNECT)
    await h.start()
    await asyncio.wait_for(h.ready.wait(), 30)
    start = (utcnow() - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    data = series("AIT-100", start, timedelta(seconds=10), 900)  # 2.5 h at 10 s
    h.submit(data)
    await h.writer.flush(30)
    await h.run_rollups()
    hourly = await h.bucketed("AIT-100", start, start + timedelta(hours=2), points=2)
    raw = await h.raw("AIT-100", start, start + timedelta(minutes=1))
    last = await h.last_values()
    await h.stop()
    assert hourly.source == "1h" and [b.count for b in hourly.buckets] == [360, 360]
    assert raw.samples == data[:6] and raw.unit == "pH"
    assert last["AIT-100"].sample == data[-1]
    # 5 tags at 1 s: 432 k rows/day → 4.78 days fit in 256 MiB at 130 B/row → the 4-day step
    assert rows_per_day(tags) == 432_000 and chunk_interval_for(432_000) == timedelta(days=4)
    with psycopg.connect(fresh_database) as conn:
        interval = conn.execute("SELECT time_interval FROM timescaledb_information.dimensions "
                                "WHERE hypertable_name = 'samples'").fetchone()
    assert interval == (timedelta(days=4),)


async def test_starts_and_spools_while_the_database_is_away(core_migrations: Path, tmp_path: Path) -> None:
    h = Historian(unreachable_url(), fast_config(), tag_configs(1), state_dir=tmp_path,
                  migrations_dir=core_migrations, connect_timeout_s=2)
    await asyncio.wait_for(h.start(), 5)  # start() does not wait for the database
    h.submit(series("AIT-100", utcnow(), timedelta(seconds=1), 20))
    await asyncio.sleep(0.5)
    st = h.stats()
    await asyncio.wait_for(h.stop(), 10)
    assert not h.ready.is_set() and st.rows_spooled == 20 and not st.connected
