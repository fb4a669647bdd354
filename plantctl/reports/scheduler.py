"""Files yesterday's daily report (and last month's on the 1st) after plant-local midnight, by itself."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg

from plantctl.config.models import PlantConfig
from plantctl.reports.generate import make_and_file

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]


def due(now: datetime, zone: str, after_min: float) -> list[tuple[str, str]]:
    """The reports that should exist at `now`: yesterday's daily, and last month's once a month is over."""
    local = now.astimezone(ZoneInfo(zone))
    ready = local - timedelta(minutes=after_min)
    yesterday: date = ready.date() - timedelta(days=1)
    out = [("daily", yesterday.isoformat())]
    last_month_end = ready.date().replace(day=1) - timedelta(days=1)
    out.append(("monthly", last_month_end.strftime("%Y-%m")))
    return out


class ReportScheduler:
    """A runtime component: checks every `check_s` seconds, files what is due and not yet filed."""

    def __init__(self, plant: PlantConfig, database_url: str, *, check_s: float = 60.0,
                 clock: Clock = lambda: datetime.now(UTC), sleep: Sleep = asyncio.sleep) -> None:
        self.plant = plant
        self.database_url = database_url
        self.check_s = check_s
        self._clock = clock
        self._sleep = sleep
        self._done: set[tuple[str, str]] = set()
        self._task: asyncio.Task[None] | None = None
        self.failures = 0

    async def start(self) -> None:
        if self.plant.reporting is not None:
            self._task = asyncio.create_task(self._run(), name="report-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_once(self) -> list[tuple[str, str]]:
        """File whatever is due; returns what it filed now (each period once per process)."""
        assert self.plant.reporting is not None
        filed = []
        for kind, key in due(self._clock(), self.plant.plant.timezone, self.plant.reporting.generate_after_min):
            if (kind, key) in self._done:
                continue
            await asyncio.to_thread(self._file, kind, key)
            self._done.add((kind, key))
            filed.append((kind, key))
        return filed

    def _file(self, kind: str, key: str) -> None:
        with psycopg.connect(self.database_url, connect_timeout=10, autocommit=True) as conn:
            for f in make_and_file(conn, self.plant, kind, key, generated_by="scheduler"):
                if f.new:
                    log.info("report filed: %s %s %s revision %d sha256 %s", kind, key, f.format, f.revision,
                             f.sha256[:12])

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except (psycopg.Error, OSError) as exc:
                self.failures += 1
                log.warning("report scheduler: %s; trying again in %g s", exc, self.check_s)
            await self._sleep(self.check_s)
