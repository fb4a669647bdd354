"""The historian writer: batches samples, stores them by binary COPY, spools to disk while the database is away.

Buffer contract (STYLE.md §6; docs/historian.md gives the sizes):
- ``submit()`` never blocks and never drops silently: a batch goes into a bounded in-memory
  queue; when the queue is full, the queue and the batch are appended to the disk spool.
- A batch leaves memory or the spool only after the transaction that stored it committed.
- Order is kept: the spool always holds older data than memory, and is replayed first.
- While the database is unreachable, every sealed batch is appended to the fsync'd spool.
- A batch the database refuses for its content (DataError, IntegrityError other than a
  duplicate key) and samples the writer refuses (unknown tag, quality outside a byte, a
  non-finite value whose quality is not Bad) go to the quarantine, never into a retry loop.
- Duplicates (a replay after a crash, a source re-sending) are absorbed by the unique
  (tag_id, ts) index: the batch is re-done through a staging table with ON CONFLICT DO NOTHING.
- The spool is bounded by spool_max_bytes and drops whole oldest segments, counted and logged.
- Durability: samples still in the in-memory queue or the open batch (at most
  queue_max_batches × batch_max_rows rows, or batch_max_age_s of data) are lost on a hard
  crash; ``on_durable(seq)`` tells the caller up to which submit() they are committed or spooled.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import math
import struct
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import errors as pgerrors

from plantctl.config.models import HistorianConfig, TagConfig
from plantctl.durable.queue import DurableQueue, Overflow
from plantctl.durable.retry import Backoff
from plantctl.historian.codec import SpoolFormatError, decode_batch, encode_batch
from plantctl.historian.copybin import CopyPayload, encode_copy, encode_spooled
from plantctl.historian.quarantine import Quarantine
from plantctl.historian.tags import load_tag_ids, register_tags
from plantctl.samples import Sample, utcnow

log = logging.getLogger(__name__)

COPY_SAMPLES = "COPY samples (ts, tag_id, value, quality) FROM STDIN (FORMAT BINARY)"
COPY_STAGING = "COPY samples_staging (ts, tag_id, value, quality) FROM STDIN (FORMAT BINARY)"
_CREATE_STAGING = ("CREATE TEMP TABLE IF NOT EXISTS samples_staging "
                   "(ts timestamptz NOT NULL, tag_id integer NOT NULL, value float8 NOT NULL, "
                   "quality smallint NOT NULL) ON COMMIT DELETE ROWS")
_MERGE_STAGING = ("INSERT INTO samples (ts, tag_id, value, quality) "
                  "SELECT ts, tag_id, value, quality FROM samples_staging ON CONFLICT DO NOTHING")
# FOR SHARE waits for a running rollup step (which holds FOR UPDATE) and then reads its new
# watermark, so late rows are flagged even when the rollup moved past them meanwhile.
_WATERMARK_PASSED = ("SELECT watermark > %s FROM historian_rollup_state "
                     "WHERE resolution = '1m' FOR SHARE")
_FLAG_DIRTY = ("UPDATE historian_rollup_state SET dirty_from = LEAST(COALESCE(dirty_from, %s), %s), "
               "updated = now() WHERE resolution = '1m'")


@dataclass(frozen=True, slots=True)
class WriterSettings:
    """Writer timers (seconds) and sizes; the batch and spool sizes come from HistorianConfig."""

    queue_max_batches: int = 64
    connect_timeout_s: float = 5.0
    reconnect_min_delay_s: float = 0.2
    reconnect_max_delay_s: float = 5.0
    write_timeout_s: float = 30.0
    group_max_batches: int = 16  # a backlog of sealed batches is stored in one transaction ...
    group_max_rows: int = 50_000  # ... of at most this many rows
    quarantine_max_bytes: int = 256 * 1024**2
    tag_reload_min_interval_s: float = 10.0


@dataclass(frozen=True, slots=True)
class WriterStats:
    """Counters of everything the writer did since start (rows are samples)."""

    submitted_seq: int
    durable_seq: int
    rows_written: int
    rows_duplicate: int
    batches_written: int
    transactions: int  # a backlog of batches is stored in one transaction
    batches_spooled: int
    rows_spooled: int
    batches_replayed: int
    rows_replayed: int
    batches_quarantined: int
    rows_quarantined: int
    batches_dropped: int
    rows_dropped: int
    spool_undecodable_batches: int
    quarantine_dropped_rows: int  # refused samples not kept: the quarantine file was full
    spool_bytes: int
    spool_pending_batches: int
    spool_pending_rows: int
    queue_batches: int
    open_rows: int
    connected: bool
    outages: int
    last_commit_at: datetime | None
    last_error: str


class _Outcome(enum.Enum):
    STORED = "stored"
    QUARANTINED = "quarantined"
    REFUSED = "refused"  # the database refused the content of a merged group: not quarantined yet
    NOT_STORED = "not stored"  # the database is unreachable or failed; keep the batch


@dataclass(slots=True)
class _Batch:
    samples: list[Sample]
    last_seq: int  # every submit() up to this one is complete in this or earlier batches


class HistorianWriter:
    """Owns one database connection, the in-memory queue, the spool and the quarantine."""

    def __init__(self, database_url: str, config: HistorianConfig, *, state_dir: Path | None = None,
                 tags: Sequence[TagConfig] = (), settings: WriterSettings | None = None,
                 on_durable: Callable[[int], None] | None = None) -> None:
        if state_dir is None:
            from plantctl.paths import state_dir as default_state_dir
            state_dir = default_state_dir()
        self._url = database_url
        self._config = config
        self._settings = settings or WriterSettings()
        self._tags = list(tags)
        self._on_durable = on_durable
        spool_dir = Path(config.spool_dir) if config.spool_dir else state_dir / "spool"
        self.spool = DurableQueue(spool_dir, config.spool_max_bytes, overflow=Overflow.DROP_OLDEST)
        self.quarantine = Quarantine(state_dir / "quarantine", self._settings.quarantine_max_bytes)
        self._queue: deque[_Batch] = deque()
        self._open: list[Sample] = []
        self._open_ends: deque[tuple[int, int]] = deque()  # (rows in open buffer after submit, seq)
        self._open_since = 0.0
        self._opened = asyncio.Event()
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._inflight: _Batch | None = None
        self._inflight_spilled = False
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._tag_ids: dict[str, int] = {}
        self._new_tags: list[TagConfig] = []  # announced while running, registered before the next store
        self._tag_reload_at = 0.0
        self._next_attempt = 0.0
        self._backoff = Backoff(self._settings.reconnect_min_delay_s, self._settings.reconnect_max_delay_s)
        self._down_logged = False
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        # counters
        self._submitted_seq = 0
        self._sealed_seq = 0
        self._durable_seq = 0
        self._rows_written = 0
        self._rows_duplicate = 0
        self._batches_written = 0
        self._batches_spooled = 0
        self._rows_spooled = 0
        self._batches_replayed = 0
        self._rows_replayed = 0
        self._outages = 0
        self._transactions = 0
        self._spool_undecodable = 0
        self._mem_dropped_batches = 0
        self._mem_dropped_rows = 0
        self._last_commit_at: datetime | None = None
        self._last_error = ""

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the writer and age-sealing tasks; returns at once (the database may be down)."""
        self._stopping = False
        self._tasks = [asyncio.create_task(self._run(), name="historian-writer"),
                       asyncio.create_task(self._age_loop(), name="historian-batch-age")]

    async def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Store what is buffered (for up to drain_timeout_s, if connected), spool the rest, stop every task."""
        self._seal_open()
        if not self._down_logged:
            with contextlib.suppress(TimeoutError):
                await self.flush(drain_timeout_s)
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self._inflight = None
        self._spill()  # anything left in memory becomes durable
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
        self.spool.close()

    async def flush(self, timeout_s: float = 10.0) -> None:
        """Wait until everything submitted so far is stored (memory and spool empty); TimeoutError otherwise."""
        self._seal_open()
        deadline = time.monotonic() + timeout_s
        while self._queue or self.spool or self._open:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"historian still holds {self.stats().queue_batches} batches in memory "
                                   f"and {self.spool.pending_batches} in the spool")
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), min(remaining, 0.25))

    # -- intake ------------------------------------------------------------------------------
    def submit(self, batch: Sequence[Sample]) -> int:
        """Accept samples without blocking; returns the submit sequence number that on_durable reports."""
        self._submitted_seq += 1
        if not batch:
            self._open_ends.append((len(self._open), self._submitted_seq))
            return self._submitted_seq
        if not self._open:
            self._open_since = time.monotonic()
            self._opened.set()
        self._open.extend(batch)
        self._open_ends.append((len(self._open), self._submitted_seq))
        while len(self._open) >= self._config.batch_max_rows:
            self._seal(self._config.batch_max_rows)
        return self._submitted_seq

    def _seal(self, n: int) -> None:
        samples, self._open = self._open[:n], self._open[n:]
        while self._open_ends and self._open_ends[0][0] <= n:
            self._sealed_seq = self._open_ends.popleft()[1]
        self._open_ends = deque((end - n, seq) for end, seq in self._open_ends)
        self._open_since = time.monotonic()
        if not samples:  # only empty submits: durable once everything before them is
            if self._queue:
                self._queue[-1].last_seq = self._sealed_seq
            else:
                self._ack(self._sealed_seq)
            return
        batch = _Batch(samples, self._sealed_seq)
        if len(self._queue) >= self._settings.queue_max_batches:
            self._queue.append(batch)
            self._spill()
        else:
            self._queue.append(batch)
        self._wake.set()

    def _seal_open(self) -> None:
        if self._open or self._open_ends:
            self._seal(len(self._open))

    async def _age_loop(self) -> None:
        max_age = self._config.batch_max_age_s
        while True:
            if not self._open:
                self._opened.clear()
                await self._opened.wait()
                continue
            delay = self._open_since + max_age - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            self._seal_open()

    def _spill(self) -> None:
        """Move the in-memory queue (oldest first) to the disk spool and acknowledge it as durable."""
        if not self._queue:
            return
        batches = list(self._queue)
        try:
            self.spool.append_many([self._spool_record(b) for b in batches])
        except OSError as exc:  # disk full or gone: keep them in memory, up to a hard cap
            self._last_error = f"cannot write the spool: {exc}"
            log.error("historian: cannot write the spool (%s); holding %d batches in memory", exc, len(batches))
            cap = 4 * self._settings.queue_max_batches
            while len(self._queue) > cap:
                lost = self._queue.popleft()
                if lost is self._inflight:
                    self._inflight = None
                self._mem_dropped_batches += 1
                self._mem_dropped_rows += len(lost.samples)
                log.error("historian: dropped the oldest batch in memory (%d rows): spool unwritable, "
                          "memory full", len(lost.samples))
            return
        self._queue.clear()
        if self._inflight is not None and self._inflight is batches[0]:
            self._inflight_spilled = True
        self._batches_spooled += len(batches)
        self._rows_spooled += sum(len(b.samples) for b in batches)
        self._ack(batches[-1].last_seq)

    def _spool_record(self, batch: _Batch) -> tuple[bytes, int]:
        """Encode a batch for the spool; samples that cannot be encoded go to the quarantine instead."""
        try:
            return encode_batch(batch.samples), len(batch.samples)
        except (struct.error, TypeError, ValueError, OverflowError):
            pass
        good: list[Sample] = []
        bad: list[Sample] = []
        for sample in batch.samples:
            try:
                encode_batch([sample])
                good.append(sample)
            except (struct.error, TypeError, ValueError, OverflowError):
                bad.append(sample)
        self.quarantine.put(bad, "cannot be spooled: value not a float or quality not a byte")
        return encode_batch(good), len(good)

    def _ack(self, seq: int) -> None:
        if seq > self._durable_seq:
            self._durable_seq = seq
            if self._on_durable is not None:
                self._on_durable(seq)

    # -- the store loop ----------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            if not (self.spool or self._queue):
                self._wake.clear()
                await self._wake.wait()
                continue
            if not await self._connected():
                self._spill()  # the database is away: make what we hold durable
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), max(0.01, self._next_attempt - time.monotonic()))
                continue
            try:
                if self._new_tags and not await self._register_new_tags():
                    continue
                if self.spool:
                    await self._replay_one()
                else:
                    await self._store_head()
            except Exception as exc:  # a bug must not stop the historian silently: log, back off, retry
                log.exception("historian writer: unexpected error; the batch is kept and retried")
                self._inflight = None
                await self._lose_connection(exc)
            self._progress.set()

    def add_tags(self, tags: Sequence[TagConfig]) -> None:
        """Tags a source announced while running (unit, range): stored in the tag table before their samples."""
        names = {t.name for t in tags}
        self._tags = [t for t in self._tags if t.name not in names] + list(tags)  # a reconnect registers them again
        self._new_tags += tags

    async def _register_new_tags(self) -> bool:
        conn = self._conn
        assert conn is not None
        new, self._new_tags = self._new_tags, []
        try:
            async with conn.transaction():
                await register_tags(conn, new)
            self._tag_ids = await load_tag_ids(conn)
        except psycopg.Error as exc:
            self._new_tags = new + self._new_tags
            await self._lose_connection(exc)
            return False
        return True

    async def _replay_one(self) -> None:
        records = self.spool.peek_many(self._settings.group_max_batches, self._settings.group_max_rows)
        if not records:
            return
        fast = encode_spooled([r.payload for r in records], self._tag_ids)
        if fast is not None:
            def decode_all() -> list[Sample]:
                return [s for r in records for s in decode_batch(r.payload)]
            outcome = await self._store(decode_all, refusal_quarantines=len(records) == 1, prebuilt=fast)
        else:
            samples: list[Sample] = []
            for record in records:
                try:
                    samples += decode_batch(record.payload)
                except SpoolFormatError as exc:
                    log.error("skipping an undecodable spool record of %d rows: %s", record.rows, exc)
                    self._last_error = str(exc)
                    self._spool_undecodable += 1
                    if record is records[0]:
                        self.spool.commit(record)
                        return
                    records = records[:records.index(record)]
                    break
            outcome = await self._store(samples, refusal_quarantines=len(records) == 1)
        if outcome is _Outcome.NOT_STORED:
            return
        if outcome is _Outcome.REFUSED:  # one of several batches is bad: retry them one by one
            outcome = await self._store(decode_batch(records[0].payload))
            if outcome is _Outcome.NOT_STORED:
                return
            records = records[:1]
        self.spool.commit_many(records)
        if outcome is _Outcome.STORED:
            self._batches_written += len(records)
            self._batches_replayed += len(records)
            self._rows_replayed += sum(r.rows for r in records)

    def _head_group(self) -> list[_Batch]:
        """Batches waiting in memory, oldest first, merged into one transaction (fewer commits in a backlog)."""
        group = [self._queue[0]]
        rows = len(group[0].samples)
        for batch in list(self._queue)[1:self._settings.group_max_batches]:
            if rows + len(batch.samples) > self._settings.group_max_rows:
                break
            group.append(batch)
            rows += len(batch.samples)
        return group

    async def _store_head(self) -> None:
        group = self._head_group()
        self._inflight, self._inflight_spilled = group[0], False
        samples = group[0].samples if len(group) == 1 else [s for b in group for s in b.samples]
        outcome = await self._store(samples, refusal_quarantines=len(group) == 1)
        if outcome is _Outcome.REFUSED:  # one of several batches is bad: retry them one by one
            group = group[:1]
            outcome = await self._store(group[0].samples)
        spilled = self._inflight_spilled
        self._inflight = None
        if outcome is _Outcome.NOT_STORED:
            if not spilled:
                self._spill()  # head first, so order is kept
            return
        if spilled:  # went to the spool while in flight: they are the spool's first records now
            remaining = len(group)
            while remaining and (records := self.spool.peek_many(remaining, 1 << 62)):
                self.spool.commit_many(records)
                remaining -= len(records)
        else:
            for b in group:  # by identity: a full, unwritable spool may have dropped some meanwhile
                if self._queue and self._queue[0] is b:
                    self._queue.popleft()
            self._ack(group[-1].last_seq)
        if outcome is _Outcome.STORED:
            self._batches_written += len(group)

    # -- database ----------------------------------------------------------------------------
    async def _connected(self) -> bool:
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return True
        if time.monotonic() < self._next_attempt:
            return False
        s = self._settings
        try:
            new = await asyncio.wait_for(
                psycopg.AsyncConnection.connect(self._url, autocommit=True,
                                                connect_timeout=max(2, math.ceil(s.connect_timeout_s))),
                s.connect_timeout_s + 1)
            async with new.transaction():
                await register_tags(new, self._tags)
            self._tag_ids = await load_tag_ids(new)
            await new.execute(_CREATE_STAGING)
        except (psycopg.Error, OSError, TimeoutError) as exc:
            self._last_error = f"cannot reach the database: {exc}"
            if not self._down_logged:
                log.warning("historian: database unreachable, spooling to %s: %s", self.spool.directory, exc)
                self._down_logged = True
                self._outages += 1
            self._next_attempt = time.monotonic() + self._backoff.next_delay()
            return False
        if self._down_logged:
            log.warning("historian: database back; replaying %d spooled batches", self.spool.pending_batches)
        self._down_logged = False
        self._backoff.reset()
        self._conn = new
        return True

    async def _lose_connection(self, exc: BaseException) -> None:
        self._last_error = f"{type(exc).__name__}: {exc}"
        if not self._down_logged:
            log.warning("historian: lost the database (%s); spooling", self._last_error)
            self._down_logged = True
            self._outages += 1
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()
        self._next_attempt = time.monotonic() + self._backoff.next_delay()

    async def _store(self, samples: list[Sample] | Callable[[], list[Sample]], refusal_quarantines: bool = True,
                     prebuilt: CopyPayload | None = None) -> _Outcome:
        """Store in one transaction; `prebuilt` is the replay fast path's stream (samples then decode lazily)."""
        conn = self._conn
        assert conn is not None
        if prebuilt is not None and callable(samples):
            return await self._store_payload(conn, prebuilt, samples, refusal_quarantines)
        if callable(samples):
            samples = samples()
        payload = encode_copy(samples, self._tag_ids)
        if any(r.startswith("unknown tag") for r in payload.refused) and \
                time.monotonic() >= self._tag_reload_at:
            self._tag_reload_at = time.monotonic() + self._settings.tag_reload_min_interval_s
            try:
                self._tag_ids = await load_tag_ids(conn)
            except psycopg.Error as exc:
                await self._lose_connection(exc)
                return _Outcome.NOT_STORED
            payload = encode_copy(samples, self._tag_ids)
        if payload.min_ts is None:
            self._quarantine_refused(payload.refused)
            return _Outcome.QUARANTINED if payload.refused else _Outcome.STORED
        kept = payload.kept
        return await self._store_payload(conn, payload, lambda: kept, refusal_quarantines)

    async def _store_payload(self, conn: psycopg.AsyncConnection[Any], payload: CopyPayload,
                             kept: Callable[[], list[Sample]], refusal_quarantines: bool) -> _Outcome:
        try:
            try:
                inserted = await asyncio.wait_for(self._copy(conn, payload, staged=False),
                                                  self._settings.write_timeout_s)
            except pgerrors.UniqueViolation:
                inserted = await asyncio.wait_for(self._copy(conn, payload, staged=True),
                                                  self._settings.write_timeout_s)
        except (psycopg.DataError, psycopg.IntegrityError) as exc:
            if not refusal_quarantines:
                return _Outcome.REFUSED
            self._quarantine_refused(payload.refused)
            self.quarantine.put(kept(), f"database refused the batch ({exc.sqlstate}): {exc}")
            self._last_error = f"quarantined a batch: {exc}"
            return _Outcome.QUARANTINED
        except (psycopg.Error, TimeoutError, OSError) as exc:
            await self._lose_connection(exc)
            return _Outcome.NOT_STORED
        self._quarantine_refused(payload.refused)
        self._rows_written += inserted
        self._rows_duplicate += payload.rows - inserted
        self._transactions += 1
        self._last_commit_at = utcnow()
        return _Outcome.STORED

    def _quarantine_refused(self, refused: dict[str, list[Sample]]) -> None:
        for reason, group in refused.items():
            self.quarantine.put(group, reason)

    async def _copy(self, conn: psycopg.AsyncConnection[Any], payload: CopyPayload, *, staged: bool) -> int:
        """One transaction: binary COPY (into samples, or into staging then merge), flag late rows."""
        async with conn.transaction(), conn.cursor() as cur:
            async with cur.copy(COPY_STAGING if staged else COPY_SAMPLES) as cp:
                await cp.write(payload.data)
            inserted = payload.rows
            if staged:
                await cur.execute(_MERGE_STAGING)
                inserted = cur.rowcount
            await cur.execute(_WATERMARK_PASSED, (payload.min_ts,))
            passed = await cur.fetchone()
            if passed is not None and passed[0]:
                await cur.execute(_FLAG_DIRTY, (payload.min_ts, payload.min_ts))
        return inserted

    # -- observability -----------------------------------------------------------------------
    def stats(self) -> WriterStats:
        c = self.spool.counters
        conn = self._conn
        return WriterStats(
            submitted_seq=self._submitted_seq, durable_seq=self._durable_seq,
            rows_written=self._rows_written, rows_duplicate=self._rows_duplicate,
            batches_written=self._batches_written, transactions=self._transactions,
            batches_spooled=self._batches_spooled, rows_spooled=self._rows_spooled,
            batches_replayed=self._batches_replayed, rows_replayed=self._rows_replayed,
            batches_quarantined=self.quarantine.batches, rows_quarantined=self.quarantine.rows,
            batches_dropped=c.dropped_batches + self._mem_dropped_batches,
            rows_dropped=c.dropped_rows + self._mem_dropped_rows,
            spool_undecodable_batches=self._spool_undecodable,
            quarantine_dropped_rows=self.quarantine.dropped_rows,
            spool_bytes=self.spool.bytes_on_disk, spool_pending_batches=self.spool.pending_batches,
            spool_pending_rows=self.spool.pending_rows,
            queue_batches=len(self._queue), open_rows=len(self._open),
            connected=conn is not None and not conn.closed and not conn.broken,
            outages=self._outages, last_commit_at=self._last_commit_at, last_error=self._last_error)
