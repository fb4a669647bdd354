"""The historian as one component: migrations at start, the writer, reads, and the rollup/retention schedule."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import psycopg

from plantctl.config.models import HistorianConfig, TagConfig
from plantctl.db.pool import ServicePool, service_pool
from plantctl.historian import queries
from plantctl.historian.migrate import apply_migrations, tune_chunk_interval
from plantctl.historian.retention import RetentionReport, apply_retention, ensure_retention_policies
from plantctl.historian.rollups import (
    RollupReport,
    RollupSettings,
    ensure_continuous_aggregates,
    license_of,
    run_rollups,
)
from plantctl.historian.writer import HistorianWriter, WriterSettings, WriterStats
from plantctl.samples import Sample

log = logging.getLogger(__name__)


def rows_per_day(tags: Sequence[TagConfig]) -> float:
    """Expected samples a day if every tag reports once per scan period (deadbands only lower it)."""
    return sum(86400 / t.scan_period_s for t in tags)


def _prepare_database(url: str, tags: Sequence[TagConfig], migrations_dir: Path | None) -> timedelta:
    apply_migrations(url, migrations_dir)
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        return tune_chunk_interval(conn, rows_per_day(tags))


class Historian:
    """Start fast (the database may be down: the writer spools), stop cleanly; reads go through a pool."""

    def __init__(self, database_url: str, config: HistorianConfig, tags: Sequence[TagConfig], *,
                 state_dir: Path | None = None, writer_settings: WriterSettings | None = None,
                 rollup_settings: RollupSettings | None = None, connect_timeout_s: float = 5.0,
                 migrations_dir: Path | None = None, pool: ServicePool | None = None) -> None:
        self._url = database_url
        self.config = config
        self._tags = list(tags)
        self._migrations_dir = migrations_dir
        self._rollup_settings = rollup_settings or RollupSettings()
        self.writer = HistorianWriter(database_url, config, state_dir=state_dir, tags=tags,
                                      settings=writer_settings)
        self._owns_pool = pool is None  # reads and jobs use the service's pool when given one
        self.pool: ServicePool = pool if pool is not None else service_pool(
            database_url, max_size=4, connect_timeout_s=connect_timeout_s, name="historian")
        self._jobs: asyncio.Task[None] | None = None
        self._prepared = False
        self._preparing = asyncio.Lock()  # the schedule and a caller may prepare at once (catalog race)
        self.ready = asyncio.Event()  # set once migrations are applied and chunks sized
        self.licensed = False

    async def start(self) -> None:
        await self.writer.start()
        await self.pool.open(wait=False)
        self._jobs = asyncio.create_task(self._schedule(), name="historian-jobs")

    async def stop(self) -> None:
        if self._jobs is not None:
            self._jobs.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._jobs
            self._jobs = None
        await self.writer.stop()
        if self._owns_pool:
            await self.pool.close()

    def submit(self, batch: Sequence[Sample]) -> int:
        return self.writer.submit(batch)

    def stats(self) -> WriterStats:
        return self.writer.stats()

    def add_tags(self, tags: Sequence[TagConfig]) -> None:
        """Tags announced at run time (a fleet's sites): the writer stores unit and range before their samples."""
        self.writer.add_tags(tags)

    async def prepare(self) -> None:
        """Apply migrations, size chunks, and set up licensed features; retried by the schedule until done.

        Serialised: two concurrent set_chunk_time_interval calls fail with "tuple concurrently updated".
        """
        async with self._preparing:
            interval = await asyncio.to_thread(_prepare_database, self._url, self._tags, self._migrations_dir)
            async with self.pool.connection() as conn:
                self.licensed = await license_of(conn) == "timescale"
                if self.licensed:
                    await ensure_continuous_aggregates(conn)
                    await ensure_retention_policies(conn, self.config.retention)
        self._prepared = True
        self.ready.set()
        log.info("historian ready: chunk interval %s, %s edition", interval,
                 "timescale" if self.licensed else "apache (own rollup and retention jobs)")

    async def _schedule(self) -> None:
        next_rollup = next_retention = 0.0
        while True:
            try:
                if not self._prepared:
                    await self.prepare()
                now = time.monotonic()
                if not self.licensed and now >= next_rollup:
                    await self.run_rollups()
                    next_rollup = now + self.config.rollup_period_s
                if not self.licensed and now >= next_retention:
                    await self.apply_retention()
                    next_retention = now + self.config.retention_period_s
            except (psycopg.Error, OSError) as exc:
                log.warning("historian jobs: %s (retrying in 5 s)", exc)
                await asyncio.sleep(5)
                continue
            except Exception:  # keep the schedule alive; the next period tries again
                log.exception("historian jobs: unexpected error (retrying in 5 s)")
                await asyncio.sleep(5)
                continue
            await asyncio.sleep(max(0.5, min(next_rollup, next_retention) - time.monotonic()))

    async def run_rollups(self, now: datetime | None = None) -> RollupReport:
        async with self.pool.connection() as conn:
            return await run_rollups(conn, now, self._rollup_settings)

    async def apply_retention(self, now: datetime | None = None) -> RetentionReport:
        async with self.pool.connection() as conn:
            return await apply_retention(conn, self.config.retention, now)

    async def raw(self, tag: str, start: datetime, end: datetime, limit: int = 100_000) -> queries.RawSeries:
        async with self.pool.connection() as conn:
            return await queries.raw_samples(conn, tag, start, end, limit)

    async def last_values(self) -> dict[str, queries.LastValue]:
        async with self.pool.connection() as conn:
            return await queries.last_values(conn)

    async def bucketed(self, tag: str, start: datetime, end: datetime, points: int = 500) -> queries.BucketSeries:
        async with self.pool.connection() as conn:
            return await queries.bucketed(conn, tag, start, end, points, continuous=self.licensed)
