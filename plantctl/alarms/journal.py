"""The alarm journal: transitions persisted in batches by a background writer that never blocks the engine.

Buffer contract: `submit` puts transitions into a durable outbox (plantctl.durable.outbox) and
returns at once. One task writes batches of up to `batch_max_rows` (or whatever arrived within
`batch_max_age_s`) in one transaction — binary COPY into the alarm_journal hypertable, an upsert of
each alarm's newest snapshot into alarm_state, and the batch id (alarm_journal_batches), so a batch
retried after a lost acknowledgement is written once. While the database is away, and whenever more
than `queue_max` transitions wait in memory, they go to a durable queue on disk (fsync'd, replayed
first, in order); when that is full its oldest segment is dropped and counted (`stats.dropped`).
alarm_state is always written from the newest transition submitted per alarm, so the restart state
stays right even then. Sizing: queue_max_bytes ≥ outage seconds × transitions per second ×
(TRANSITION_BYTES + frame); the default rides through a day at 10 transitions/s.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from plantctl.alarms.states import AlarmEvent, AlarmSnapshot, AlarmState, ShelveKind, Transition
from plantctl.db.pool import ServicePool, connection
from plantctl.durable.outbox import DurableOutbox
from plantctl.durable.queue import max_bytes_for
from plantctl.durable.retry import DATABASE_AWAY
from plantctl.quality import Quality

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


TRANSITION_BYTES = 200
"""A transition as queued on disk (JSON of its journal row): 162 B measured for a limit alarm's activation."""
QUEUE_MAX_BYTES = max_bytes_for(outage_s=86400, records_per_s=10, bytes_per_record=TRANSITION_BYTES)


def _encode(t: Transition) -> list[Any]:
    return [v.isoformat() if isinstance(v, datetime) else v for v in journal_row(t)]


def _decode(row: list[Any]) -> Transition:
    v: list[Any] = [datetime.fromisoformat(x) if typ == "timestamptz" and x is not None else x
                    for x, typ in zip(row, _JOURNAL_TYPES, strict=True)]
    (ts, alarm, event, old, new, priority, value, unit, quality, user, comment, active, acked, latched, shelve,
     until, reason, suppressed, oos, since, acked_at) = v
    return Transition(ts, alarm, AlarmEvent(event), AlarmState(old), AlarmState(new), priority, value, unit,
                      None if quality is None else Quality(quality), user, comment,
                      AlarmSnapshot(active, acked, latched, None if shelve is None else ShelveKind(shelve), until,
                                    reason, suppressed, oos, since, acked_at))


@dataclass
class JournalStats:
    submitted: int = 0
    written: int = 0
    dropped: int = 0  # never written: the disk queue was full, the disk failed, or the database refused the rows
    batches: int = 0
    failures: int = 0  # failed write attempts (each retried)
    duplicates_skipped: int = 0  # rows of a retried batch the database had already committed

    @property
    def lost(self) -> int:
        return self.dropped


class AlarmJournal:
    """Background writer of the alarm journal; `start()` returns at once, `stop()` flushes and closes.

    Without a queue_dir the disk queue lives in a temporary folder removed at stop: durable across a
    database outage, not across a restart of the service (tests and tools; the service gives one).
    """

    def __init__(self, database_url: str, *, queue_max: int = 200_000, batch_max_rows: int = 5_000,
                 batch_max_age_s: float = 0.2, retry_max_delay_s: float = 5.0, connect_timeout_s: float = 5.0,
                 queue_dir: Path | None = None, queue_max_bytes: int = QUEUE_MAX_BYTES) -> None:
        if queue_max < 1 or batch_max_rows < 1 or batch_max_age_s <= 0:
            raise ValueError("queue_max and batch_max_rows must be ≥ 1 and batch_max_age_s > 0")
        self._url = database_url
        self.queue_max = queue_max
        self.batch_max_rows = batch_max_rows
        self.batch_max_age_s = batch_max_age_s
        self.connect_timeout_s = connect_timeout_s
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if queue_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="plantctl-alarm-journal-")
            queue_dir = Path(self._tmp.name)
        self._latest: dict[str, Transition] = {}  # the newest transition submitted per alarm, written or not
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._batches_since_prune = 0
        self.outbox: DurableOutbox[Transition] = DurableOutbox(
            "alarm journal", self._write, encode=_encode, decode=_decode, retry_on=DATABASE_AWAY,
            queue_dir=queue_dir, queue_max_bytes=queue_max_bytes, memory_max=queue_max, batch_max=batch_max_rows,
            batch_max_age_s=batch_max_age_s, retry_min_delay_s=0.1, retry_max_delay_s=retry_max_delay_s)

    # -- the engine's side ---------------------------------------------------------------------
    def submit(self, transitions: Iterable[Transition]) -> None:
        """Queue transitions for writing; never waits. Usable as the engine's sink."""
        for t in transitions:
            self._latest[t.alarm] = t
            self.outbox.put(t)

    @property
    def queued(self) -> int:
        """Transitions not yet written, in memory and on disk."""
        s = self.outbox.stats()
        return s.in_memory + s.pending_on_disk

    @property
    def stats(self) -> JournalStats:
        s = self.outbox.stats()
        return JournalStats(s.submitted, s.written, s.dropped + s.unwritable + s.refused, s.batches, s.failures,
                            s.duplicates)

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        await self.outbox.start()

    async def stop(self, flush_timeout_s: float = 10.0) -> None:
        """Flush what is queued (up to flush_timeout_s), then close; the rest stays in the disk queue."""
        await self.outbox.stop(flush_timeout_s)
        if self.queued:
            log.error("alarm journal stopped with %d transitions not written%s", self.queued,
                      " (temporary queue: lost)" if self._tmp is not None else " (kept on disk for the next start)")
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
        if self._tmp is not None:
            self._tmp.cleanup()

    async def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until everything submitted so far is written (tests, shutdown)."""
        try:
            await self.outbox.flush(timeout_s)
        except TimeoutError:
            raise TimeoutError(f"alarm journal: {self.queued} transitions still queued after {timeout_s} s") from None

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = await psycopg.AsyncConnection.connect(self._url, connect_timeout=int(self.connect_timeout_s))
        return self._conn

    async def _write(self, batch: list[Transition], batch_id: uuid.UUID) -> bool:
        # alarm_state gets the newest state the engine has submitted, even if later journal rows are
        # still queued: a restart resumes from the engine's latest state.
        states = [self._latest.get(t.alarm, t) for t in _last_per_alarm(batch)]
        try:
            conn = await self._connection()
            fresh = await write_batch(conn, batch, states, batch_id)
        except DATABASE_AWAY:
            if self._conn is not None and (self._conn.broken or self._conn.closed):
                self._conn = None
            raise
        self._batches_since_prune += 1
        if self._batches_since_prune >= _PRUNE_EVERY_BATCHES:
            self._batches_since_prune = 0
            await self._prune()
        return fresh

    async def _prune(self) -> None:
        """Forget batch ids older than a day (a retry never comes that late)."""
        try:
            conn = await self._connection()
            async with conn.transaction():
                await conn.execute("DELETE FROM alarm_journal_batches WHERE written < now() - interval '1 day'")
        except (psycopg.Error, OSError) as exc:
            log.warning("alarm journal: pruning batch ids failed (%s); will retry later", exc)


# --- restart -------------------------------------------------------------------------------------

_LOAD_SQL = ("SELECT alarm, active, acked, latched, shelve, shelved_until, shelve_reason, suppressed, "
             "out_of_service, active_since, acked_at FROM alarm_state")


def _snapshot(row: tuple[Any, ...]) -> tuple[str, AlarmSnapshot]:
    (alarm, active, acked, latched, shelve, until, reason, suppressed, oos, since, acked_at) = row
    return str(alarm), AlarmSnapshot(bool(active), bool(acked), bool(latched),
                                     None if shelve is None else ShelveKind(shelve), until, str(reason),
                                     bool(suppressed), bool(oos), since, acked_at)


async def load_snapshots(database: str | ServicePool, connect_timeout_s: float = 5.0) -> dict[str, AlarmSnapshot]:
    """The saved state of every alarm (from alarm_state), for AlarmEngine.restore at start."""
    async with connection(database, connect_timeout_s) as conn:
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


async def read_journal(database: str | ServicePool, start: datetime, end: datetime, alarm: str | None = None,
                       limit: int = 1000) -> list[JournalEntry]:
    """Journal rows in [start, end), oldest first, optionally of one alarm."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("journal times must be timezone-aware (UTC)")
    sql = ("SELECT ts, id, alarm, event, old_state, new_state, priority, value, unit, quality, user_name, comment "
           "FROM alarm_journal WHERE ts >= %s AND ts < %s AND (%s::text IS NULL OR alarm = %s) "
           "ORDER BY ts, id LIMIT %s")
    async with connection(database) as conn:
        cur = await conn.execute(sql, (start, end, alarm, alarm, limit))
        return [JournalEntry(*r) for r in await cur.fetchall()]
