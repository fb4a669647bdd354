"""The alarm journal: transitions persisted in batches by a background writer that never blocks the engine.

Buffer contract: `submit` appends to an in-memory queue of at most `queue_max` transitions and
returns at once. The writer takes up to `batch_max_rows` at a time (or whatever is there after
`batch_max_age_s`) and writes them in one transaction — binary COPY into the alarm_journal
hypertable plus an upsert of each alarm's last snapshot into alarm_state. On a database error
the batch is kept and retried with backoff. When the queue is full the newest transitions are
dropped and counted (`stats.dropped`); alarm_state is always written from the newest
transition submitted per alarm, so the restart state stays right even then.
Sizing: queue_max ≥ outage seconds × transitions per second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from plantctl.alarms.states import AlarmSnapshot, ShelveKind, Transition

log = logging.getLogger(__name__)

JOURNAL_COLUMNS = ("ts", "alarm", "event", "old_state", "new_state", "priority", "value", "unit", "quality",
                   "user_name", "comment", "active", "acked", "latched", "shelve", "shelved_until",
                   "shelve_reason", "suppressed", "out_of_service", "active_since", "acked_at")
_JOURNAL_TYPES = ("timestamptz", "text", "text", "text", "text", "int2", "float8", "text", "int2",
                  "text", "text", "bool", "bool", "bool", "text", "timestamptz",
                  "text", "bool", "bool", "timestamptz", "timestamptz")
_PRUNE_EVERY_BATCHES = 1000
_COPY_SQL = f"COPY alarm_journal ({', '.join(JOURNAL_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
_INSERT_SQL = (f"INSERT INTO alarm_journal ({', '.join(JOURNAL_COLUMNS)}) "
               f"VALUES ({', '.join(['%s'] * len(JOURNAL_COLUMNS))})")
_STATE_COLUMNS = ("alarm", "ts", "state", "active", "acked", "latched", "shelve", "shelved_until", "shelve_reason",
                  "suppressed", "out_of_service", "active_since", "acked_at")
_UPSERT_STATE_SQL = (
    f"INSERT INTO alarm_state ({', '.join(_STATE_COLUMNS)}) VALUES ({', '.join(['%s'] * len(_STATE_COLUMNS))}) "
    "ON CONFLICT (alarm) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _STATE_COLUMNS[1:])

)


def journal_row(t: Transition) -> tuple[Any, ...]:
    """A transition as the alarm_journal row (column order JOURNAL_COLUMNS)."""
    s = t.snapshot
    return (t.ts, t.alarm, t.event.value, t.old_state.value, t.new_state.value, t.priority, t.value, t.unit,
            None if t.quality is None else int(t.quality), t.user, t.comment, s.active, s.acked, s.latched,
            None if s.shelve is None else s.shelve.value, s.shelved_until, s.shelve_reason, s.suppressed,
            s.out_of_service, s.active_since, s.acked_at)


def _state_row(t: Transition) -> tuple[Any, ...]:
    s = t.snapshot
    return (t.alarm, t.ts, t.new_state.value, s.active, s.acked, s.latched,
            None if s.shelve is None else s.shelve.value, s.shelved_until, s.shelve_reason, s.suppressed,
            s.out_of_service, s.active_since, s.acked_at)


def _last_per_alarm(batch: Iterable[Transition]) -> list[Transition]:
    """The last transition of each alarm in engine order (not by timestamp: a late sample may be stamped earlier)."""
    last: dict[str, Transition] = {}
    for t in batch:
        last[t.alarm] = t
    return list(last.values())


async def write_batch(conn: psycopg.AsyncConnection[Any], batch: Sequence[Transition],
                      states: Sequence[Transition] | None = None, batch_id: uuid.UUID | None = None) -> bool:
    """Write transitions by binary COPY and upsert alarm snapshots (default: each alarm's last in the batch).

    With a batch_id the write is exactly-once: False means that batch was already committed (a retry).
    """
    async with conn.transaction():
        if batch_id is not None:
            cur = await conn.execute(
                "INSERT INTO alarm_journal_batches (batch_id, rows) VALUES (%s, %s) "
                "ON CONFLICT (batch_id) DO NOTHING RETURNING 1", (batch_id, len(batch)))
            if await cur.fetchone() is None:
                return False
        if batch:
            async with conn.cursor() as cur, cur.copy(_COPY_SQL) as cp:
                cp.set_types(list(_JOURNAL_TYPES))
                for t in batch:
                    await cp.write_row(journal_row(t))
        if states is None:
            states = _last_per_alarm(batch)
        if states:
            async with conn.cursor() as cur:
                await cur.executemany(_UPSERT_STATE_SQL, [_state_row(t) for t in states])
    return True


async def write_batch_executemany(conn: psycopg.AsyncConnection[Any], batch: Sequence[Transition]) -> None:
    """The plain way (one INSERT per row, pipelined by executemany): the benchmark's baseline."""
    async with conn.transaction(), conn.cursor() as cur:
        await cur.executemany(_INSERT_SQL, [journal_row(t) for t in batch])
        await cur.executemany(_UPSERT_STATE_SQL, [_state_row(t) for t in _last_per_alarm(batch)])


@dataclass
class JournalStats:
    submitted: int = 0
    written: int = 0
    dropped: int = 0  # queue full: never written (counted, logged once per episode)
    batches: int = 0
    failures: int = 0  # failed write attempts (each retried)
    duplicates_skipped: int = 0  # rows of a retried batch the database had already committed

    @property
    def lost(self) -> int:
        return self.dropped


class AlarmJournal:
    """Background writer of the alarm journal; `start()` returns at once, `stop()` flushes and closes."""

    def __init__(self, database_url: str, *, queue_max: int = 200_000, batch_max_rows: int = 5_000,
                 batch_max_age_s: float = 0.2, retry_max_delay_s: float = 5.0, connect_timeout_s: float = 5.0) -> None:
        if queue_max < 1 or batch_max_rows < 1 or batch_max_age_s <= 0:
            raise ValueError("queue_max and batch_max_rows must be ≥ 1 and batch_max_age_s > 0")
        self._url = database_url
        self.queue_max = queue_max
        self.batch_max_rows = batch_max_rows
        self.batch_max_age_s = batch_max_age_s
        self.retry_max_delay_s = retry_max_delay_s
        self.connect_timeout_s = connect_timeout_s
        self._queue: deque[Transition] = deque()
        self._latest: dict[str, Transition] = {}  # the newest transition submitted per alarm, written or not
        self._dropped_alarms: set[str] = set()  # alarms whose newest state was dropped and is not yet saved
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._overflowing = False
        self._flushing = False
        self._busy = False
        self._inflight: tuple[uuid.UUID, int] | None = None  # a batch being retried keeps its id and size
        self.stats = JournalStats()

    # -- the engine's side ---------------------------------------------------------------------
    def submit(self, transitions: Iterable[Transition]) -> None:
        """Queue transitions for writing; never waits. Usable as the engine's sink."""
        queue, stats = self._queue, self.stats
        for t in transitions:
            stats.submitted += 1
            self._latest[t.alarm] = t
            if len(queue) >= self.queue_max:
                stats.dropped += 1
                self._dropped_alarms.add(t.alarm)
                if not self._overflowing:
                    self._overflowing = True
                    log.error("alarm journal queue full (%d): dropping transitions until it drains", self.queue_max)
                continue
            queue.append(t)
        if len(queue) >= self.batch_max_rows:
            self._notify()

    def _notify(self) -> None:
        loop = self._loop
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    @property
    def queued(self) -> int:
        return len(self._queue)

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="alarm-journal-writer")

    async def stop(self, flush_timeout_s: float = 10.0) -> None:
        """Flush what is queued (up to flush_timeout_s), then close; unflushed rows stay counted in `queued`."""
        task = self._task
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), flush_timeout_s)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if self._queue:
                log.error("alarm journal stopped with %d transitions not written", len(self._queue))
        self._task = None
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until everything submitted so far is written (tests, shutdown)."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        self._flushing = True
        try:
            while self._queue or self._dropped_alarms or self._busy:
                self._wake.set()
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError(
                        f"alarm journal: {len(self._queue)} transitions still queued after {timeout_s} s")
                await asyncio.sleep(0.01)
        finally:
            self._flushing = False

    async def _wait(self, timeout_s: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout_s)

    async def _prune(self) -> None:
        """Forget batch ids older than a day (a retry never comes that late)."""
        try:
            conn = await self._connection()
            async with conn.transaction():
                await conn.execute("DELETE FROM alarm_journal_batches WHERE written < now() - interval '1 day'")
        except (psycopg.Error, OSError) as exc:
            log.warning("alarm journal: pruning batch ids failed (%s); will retry later", exc)

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = await psycopg.AsyncConnection.connect(self._url, connect_timeout=int(self.connect_timeout_s))
        return self._conn

    async def _run(self) -> None:
        delay = 0.1
        while True:
            if not self._queue and not self._dropped_alarms:
                if self._stopping:
                    return
                await self._wait(self.batch_max_age_s)
                continue
            if len(self._queue) < self.batch_max_rows and not (self._stopping or self._flushing):
                await self._wait(self.batch_max_age_s)  # let a partial batch fill, at most batch_max_age_s
            if self._inflight is None:
                self._inflight = (uuid.uuid4(), min(len(self._queue), self.batch_max_rows))
            batch_id, n = self._inflight
            batch = [self._queue[i] for i in range(n)]
            touched = self._dropped_alarms | {t.alarm for t in batch}
            self._dropped_alarms = set()
            # alarm_state gets the newest state the engine has submitted, even if its journal rows are
            # still queued (or were dropped): a restart resumes from the engine's latest state.
            states = [self._latest[a] for a in touched]
            self._busy = True
            try:
                conn = await self._connection()
                fresh = await write_batch(conn, batch, states, batch_id)
            except (psycopg.Error, OSError) as exc:
                self._busy = False
                self._dropped_alarms |= touched - {t.alarm for t in batch}
                self.stats.failures += 1
                log.warning("alarm journal write of %d rows failed (%s); retrying in %.1f s", n, exc, delay)
                if self._conn is not None and (self._conn.broken or self._conn.closed):
                    self._conn = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max_delay_s)
                continue
            for _ in range(n):
                self._queue.popleft()
            self._inflight = None
            self._busy = False
            if fresh:
                self.stats.written += n
                self.stats.batches += 1
            else:  # committed by an attempt whose acknowledgement was lost: not written twice
                self.stats.written += n
                self.stats.duplicates_skipped += n
                self._dropped_alarms |= touched  # their newest states still need saving
            if self.stats.batches % _PRUNE_EVERY_BATCHES == 0:
                await self._prune()
            if self._overflowing and len(self._queue) < self.queue_max // 2:
                self._overflowing = False
                log.warning("alarm journal queue drained; %d transitions were dropped in total", self.stats.dropped)
            delay = 0.1


# --- restart -------------------------------------------------------------------------------------

_LOAD_SQL = ("SELECT alarm, active, acked, latched, shelve, shelved_until, shelve_reason, suppressed, "
             "out_of_service, active_since, acked_at FROM alarm_state")


def _snapshot(row: tuple[Any, ...]) -> tuple[str, AlarmSnapshot]:
    (alarm, active, acked, latched, shelve, until, reason, suppressed, oos, since, acked_at) = row
    return str(alarm), AlarmSnapshot(bool(active), bool(acked), bool(latched),
                                     None if shelve is None else ShelveKind(shelve), until, str(reason),
                                     bool(suppressed), bool(oos), since, acked_at)


async def load_snapshots(database_url: str, connect_timeout_s: float = 5.0) -> dict[str, AlarmSnapshot]:
    """The saved state of every alarm (from alarm_state), for AlarmEngine.restore at start."""
    async with await psycopg.AsyncConnection.connect(database_url, connect_timeout=int(connect_timeout_s)) as conn:
        cur = await conn.execute(_LOAD_SQL)
        return dict(_snapshot(r) for r in await cur.fetchall())


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One journal row as read back (API lists, reports)."""

    ts: datetime
    id: int
    alarm: str
    event: str
    old_state: str
    new_state: str
    priority: int
    value: float | None
    unit: str
    quality: int | None
    user: str
    comment: str


async def read_journal(database_url: str, start: datetime, end: datetime, alarm: str | None = None,
                       limit: int = 1000) -> list[JournalEntry]:
    """Journal rows in [start, end), oldest first, optionally of one alarm."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("journal times must be timezone-aware (UTC)")
    sql = ("SELECT ts, id, alarm, event, old_state, new_state, priority, value, unit, quality, user_name, comment "
           "FROM alarm_journal WHERE ts >= %s AND ts < %s AND (%s::text IS NULL OR alarm = %s) "
           "ORDER BY ts, id LIMIT %s")
    async with await psycopg.AsyncConnection.connect(database_url, connect_timeout=5) as conn:
        cur = await conn.execute(sql, (start, end, alarm, alarm, limit))
        return [JournalEntry(*r) for r in await cur.fetchall()]
