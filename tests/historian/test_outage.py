"""The database goes away mid-ingest while samples keep coming: every sample is stored once, in order."""

from __future__ import annotations

import asyncio
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from plantctl.db import LocalDatabase
from plantctl.historian.migrate import MIGRATIONS_DIR, apply_migrations
from plantctl.historian.writer import HistorianWriter
from plantctl.samples import Sample
from tests.historian.conftest import FAST_RECONNECT, T0, fast_config, tag_configs

pytestmark = [pytest.mark.anyio, pytest.mark.db, pytest.mark.slow]
TAGS = [f"AIT-{100 + i}" for i in range(5)]


def _prepare(db: LocalDatabase, name: str, tmp_path: Path) -> str:
    url = db.create_database(name)
    shutil.copy(MIGRATIONS_DIR / "0001_core.sql", tmp_path / "0001_core.sql")
    apply_migrations(url, tmp_path)
    with psycopg.connect(url, autocommit=True) as conn:  # test-only: the order rows were committed in
        conn.execute("CREATE SEQUENCE commit_order")
        conn.execute("ALTER TABLE samples ADD COLUMN commit_order bigint DEFAULT nextval('commit_order')")
    return url


async def test_database_stopped_mid_ingest_loses_and_doubles_nothing(
        private_db_server: LocalDatabase, tmp_path: Path) -> None:
    url = _prepare(private_db_server, "outage", tmp_path)
    w = HistorianWriter(url, fast_config(batch_max_rows=100, batch_max_age_s=0.05), state_dir=tmp_path,
                        tags=tag_configs(5), settings=FAST_RECONNECT)
    await w.start()
    sent: list[Sample] = []

    running = asyncio.Event()
    running.set()

    async def acquire() -> None:
        """A 5-tag source scanning every 10 ms, timestamps in plant time, until told to stop."""
        while running.is_set():
            k = len(sent) // 5
            batch = [Sample(tag, T0 + k * timedelta(milliseconds=10), float(k) + i / 10)
                     for i, tag in enumerate(TAGS)]
            sent.extend(batch)
            w.submit(batch)
            await asyncio.sleep(0.01)

    source = asyncio.create_task(acquire())
    await asyncio.sleep(1.5)
    before_stop = len(sent)
    await asyncio.to_thread(private_db_server.down)
    await asyncio.sleep(3.0)
    during = w.stats()
    down_rows = len(sent) - before_stop
    await asyncio.to_thread(private_db_server.start)
    await asyncio.sleep(1.0)  # samples keep coming after the restart, behind the replay
    running.clear()
    await source
    await w.flush(60)
    await w.stop()

    assert during.connected is False and during.rows_spooled > 0
    st = w.stats()
    assert st.outages >= 1 and st.batches_replayed > 0 and st.rows_quarantined == 0 and st.rows_dropped == 0
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT t.name, s.ts, s.value FROM samples s JOIN tags t ON t.id = s.tag_id "
                            "ORDER BY s.commit_order").fetchall()
    assert len(rows) == len(sent) and down_rows > 0
    assert sorted(rows) == sorted((s.tag, s.ts, s.value) for s in sent)  # every sample, exactly once
    per_tag: dict[str, list[datetime]] = {}
    for tag, ts, _ in rows:
        per_tag.setdefault(tag, []).append(ts)
    for tag, stamps in per_tag.items():
        assert stamps == sorted(stamps), f"{tag} committed out of order"
