"""Historian test helpers: a migrated fresh database per test and plant-like tag configs."""

from __future__ import annotations

import math
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from plantctl.config.models import HistorianConfig, TagConfig
from plantctl.db import LocalDatabase
from plantctl.historian.migrate import MIGRATIONS_DIR, apply_migrations
from plantctl.historian.writer import HistorianWriter, WriterSettings
from plantctl.plantfile import tag_config
from plantctl.quality import Quality
from plantctl.samples import Sample
from tests.support import free_port

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def tag_configs(n: int, unit: str = "pH") -> list[TagConfig]:
    return [tag_config({
        "name": f"AIT-{100 + i}", "unit": unit, "description": f"analyser {i}",
        "range": {"low": 0, "high": 14}, "source": "PLC-1",
        "opcua": {"node_id": f"ns=2;s=Plant.AIT-{100 + i}"}}) for i in range(n)]


def series(tag: str, start: datetime, step: timedelta, n: int, *, value0: float = 0.0,
           quality_every: int = 0) -> list[Sample]:
    """n samples of one tag; every `quality_every`-th one is Uncertain (0: all Good)."""
    out = []
    for k in range(n):
        q = Quality.UNCERTAIN if quality_every and k % quality_every == quality_every - 1 else Quality.GOOD
        out.append(Sample(tag, start + k * step, value0 + (k * 7919 % 1000) / 10.0, q))
    return out


@pytest.fixture(scope="session")
def core_migrations(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Only the historian's own migration, so these tests do not depend on other parts' files."""
    d = tmp_path_factory.mktemp("migrations")
    shutil.copy(MIGRATIONS_DIR / "0001_core.sql", d / "0001_core.sql")
    return d


@pytest.fixture
def private_historian_db(fresh_database: str, core_migrations: Path) -> str:
    """A fresh database with the historian's schema, for a test that alters the schema."""
    apply_migrations(fresh_database, core_migrations)
    return fresh_database


@pytest.fixture(scope="session")
def _historian_session_db(db_server: LocalDatabase, core_migrations: Path) -> Iterator[str]:
    name = f"t_hist_{uuid.uuid4().hex[:10]}"
    url = db_server.create_database(name)
    apply_migrations(url, core_migrations)
    yield url
    db_server.drop_database(name)


@pytest.fixture
def historian_db(_historian_session_db: str) -> str:
    """The historian's schema, emptied: no tags, samples or rollups, watermarks reset, 1-day chunks.

    Creating a database costs seconds on a busy machine; emptying one costs milliseconds.
    """
    with psycopg.connect(_historian_session_db, autocommit=True) as conn:
        conn.execute("TRUNCATE samples, samples_1m, samples_1h, tags RESTART IDENTITY")
        conn.execute("UPDATE historian_rollup_state SET watermark = '-infinity', dirty_from = NULL")
        conn.execute("SELECT set_chunk_time_interval('samples', INTERVAL '1 day')")
    return _historian_session_db


def unreachable_url() -> str:
    """A URL nothing listens on: connection refused at once, as when the database is down."""
    return f"postgresql://plantctl:none@127.0.0.1:{free_port()}/plantctl"


def fast_config(**overrides: object) -> HistorianConfig:
    base: dict[str, object] = {"batch_max_rows": 500, "batch_max_age_s": 0.05}
    base.update(overrides)
    return HistorianConfig.model_validate(base)


FAST_RECONNECT = WriterSettings(connect_timeout_s=2, reconnect_min_delay_s=0.05, reconnect_max_delay_s=0.3)


def stored_rows(url: str) -> list[tuple[str, datetime, float, int]]:
    """Every stored sample as (tag, ts, value, quality), in (tag, ts) order — read by plain SQL."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT t.name, s.ts, s.value, s.quality FROM samples s JOIN tags t ON t.id = s.tag_id "
                            "ORDER BY t.name, s.ts").fetchall()
    return [(str(a), b, float(c), int(d)) for a, b, c, d in rows]


def as_rows(samples: list[Sample]) -> list[tuple[str, datetime, float, int]]:
    return sorted((s.tag, s.ts, s.value, int(s.quality)) for s in samples)


TIME_BUCKET_ORIGIN = datetime(2000, 1, 3, tzinfo=UTC)  # TimescaleDB's documented default origin


def expected_buckets(samples: list[Sample], width: timedelta, start: datetime, end: datetime
                     ) -> list[tuple[datetime, float | None, float | None, float | None, float | None,
                                     float | None, int, int]]:
    """Aggregates computed here in Python: (bucket, min, max, avg, first, last, count, good_count), Good only."""
    groups: dict[datetime, list[Sample]] = {}
    for s in samples:
        if start <= s.ts < end:
            b = s.ts - (s.ts - TIME_BUCKET_ORIGIN) % width
            groups.setdefault(b, []).append(s)
    out = []
    for b in sorted(groups):
        members = sorted(groups[b], key=lambda s: s.ts)
        good = [s.value for s in members if (int(s.quality) & 0xC0) == 0xC0]
        out.append((b, min(good) if good else None, max(good) if good else None,
                    math.fsum(good) / len(good) if good else None,
                    good[0] if good else None, good[-1] if good else None, len(members), len(good)))
    return out


async def store(url: str, state: Path, samples: list[Sample], n_tags: int) -> None:
    """Store samples through the real writer and wait until committed."""
    w = HistorianWriter(url, fast_config(batch_max_rows=5000), state_dir=state, tags=tag_configs(n_tags))
    await w.start()
    w.submit(samples)
    await w.flush(60)
    await w.stop()
    assert w.stats().rows_quarantined == 0
