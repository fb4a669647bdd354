"""The audit trail's write path: committed to the database, or fsync'd to a durable queue while it is away.

An audit record is durable when `AuditWriter.write` returns: either its INSERT committed, or it was
appended (fsync'd) to a REFUSE_NEW durable queue (plantctl.durable) that a background task replays
into the database, in order and exactly once, when the database is back. Exactly once: every record
carries its own `record_id` (uuid) and the replay inserts ON CONFLICT (record_id) DO NOTHING, so a
record whose commit was acknowledged to nobody (the link died after COMMIT) is not stored twice.
In order: once anything waits in the queue, new records queue behind it instead of overtaking it,
and `write` calls are serialised. A record that can be neither committed nor queued (queue full,
disk error, no queue configured) raises AuditNotDurableError: the caller must not apply the action.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from plantctl.durable.queue import DurableQueue, Overflow, QueueFullError, QueueRecord
from plantctl.durable.retry import DATABASE_AWAY, retry_for_ever

log = logging.getLogger(__name__)

Connect = Callable[[], AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]]


INSERTED_COLUMNS = ("record_id", "occurred", "actor", "action", "target", "old_value", "new_value",
                    "source_address", "detail")
_INSERT = (f"INSERT INTO audit_log ({', '.join(INSERTED_COLUMNS)}) "
           f"VALUES ({', '.join(['%s'] * len(INSERTED_COLUMNS))}) ON CONFLICT (record_id) DO NOTHING")
REPLAY_BATCH = 100


class AuditNotDurableError(RuntimeError):
    """The audit record could not be committed nor queued durably: refuse the action it describes."""


@dataclass(frozen=True, slots=True)
class PendingRecord:
    """One audit record as the service has it, before the database stamped it."""

    record_id: uuid.UUID
    occurred: datetime
    actor: str
    action: str
    target: str
    old: Any
    new: Any
    source_address: str
    detail: dict[str, Any]

    def params(self) -> tuple[Any, ...]:
        return (self.record_id, self.occurred, self.actor, self.action, self.target,
                None if self.old is None else Jsonb(self.old), None if self.new is None else Jsonb(self.new),
                self.source_address, Jsonb(self.detail))

    def encode(self) -> bytes:
        return json.dumps({"record_id": str(self.record_id), "occurred": self.occurred.isoformat(),
                           "actor": self.actor, "action": self.action, "target": self.target, "old": self.old,
                           "new": self.new, "source_address": self.source_address, "detail": self.detail},
                          separators=(",", ":")).encode()

    @staticmethod
    def decode(payload: bytes) -> PendingRecord:
        d = json.loads(payload)
        return PendingRecord(uuid.UUID(d["record_id"]), datetime.fromisoformat(d["occurred"]), d["actor"],
                             d["action"], d["target"], d["old"], d["new"], d["source_address"], d["detail"])


@dataclass(frozen=True, slots=True)
class AuditWriterStats:
    committed: int  # inserted straight away
    queued: int  # appended to the durable queue (database away, or older records still queued)
    replayed: int  # queued records committed on replay
    replay_duplicates: int  # queued records the database already had (commit acknowledged to nobody)
    refused: int  # neither committed nor queued: AuditNotDurableError raised
    pending: int  # waiting in the durable queue now
    queue_bytes: int
    last_error: str


class AuditWriter:
    """Commits audit records, queueing them durably while the database is away; replays them in order."""

    def __init__(self, connect: Connect, *, queue_dir: Path | None, queue_max_bytes: int = 64 * 1024**2,
                 write_timeout_s: float = 3.0, retry_min_delay_s: float = 0.2,
                 retry_max_delay_s: float = 5.0) -> None:
        self._connect = connect
        self.queue = (DurableQueue(queue_dir, queue_max_bytes, overflow=Overflow.REFUSE_NEW)
                      if queue_dir is not None else None)
        self._write_timeout_s = write_timeout_s
        self._retry_min_delay_s = retry_min_delay_s
        self._retry_max_delay_s = retry_max_delay_s
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._empty = asyncio.Event()  # set while nothing waits in the queue
        if self.queue is None or not self.queue:
            self._empty.set()
        self._replayer: asyncio.Task[None] | None = None
        self._committed = self._queued = self._replayed = self._duplicates = self._refused = 0
        self._last_error = ""

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Start replaying what a previous run left queued; returns at once."""
        if self.queue is not None and self.queue:
            self._empty.clear()
        self._ensure_replayer()

    async def stop(self, drain_timeout_s: float = 2.0) -> None:
        """Give the replay a short chance to drain, then stop; what is left stays queued on disk for next start."""
        task, self._replayer = self._replayer, None
        if task is not None:
            if self.queue is not None and self.queue:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._drained(), drain_timeout_s)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.queue is not None:
            self.queue.close()

    async def _drained(self) -> None:
        await self._empty.wait()

    def _ensure_replayer(self) -> None:
        if self.queue is None or (self._replayer is not None and not self._replayer.done()):
            return
        self._replayer = asyncio.create_task(self._replay_loop(), name="audit-replay")

    # -- the write path ----------------------------------------------------------------------
    async def write(self, record: PendingRecord, returning: str) -> tuple[Any, ...] | None:
        """Make `record` durable; the stored row (`returning` columns) when committed now, None when queued."""
        async with self._lock:
            if self.queue is not None and self.queue:
                self._enqueue(record, "older records wait in the queue")
                return None
            try:
                return await asyncio.wait_for(self._insert(record, returning), self._write_timeout_s)
            except DATABASE_AWAY as exc:
                self._last_error = f"{type(exc).__name__}: {exc}"
                self._enqueue(record, f"database away ({self._last_error})")
                return None

    async def _insert(self, record: PendingRecord, returning: str) -> tuple[Any, ...] | None:
        async with self._connect() as conn:
            cur = await conn.execute(f"{_INSERT} RETURNING {returning}", record.params())
            row = await cur.fetchone()
        self._committed += 1
        return row

    def _enqueue(self, record: PendingRecord, why: str) -> None:
        if self.queue is None:
            self._refused += 1
            raise AuditNotDurableError(f"audit record not stored and no durable queue configured: {why}")
        try:
            self.queue.append(record.encode(), 1)
        except (QueueFullError, OSError) as exc:
            self._refused += 1
            raise AuditNotDurableError(f"audit record cannot be made durable: {exc}") from exc
        self._queued += 1
        self._empty.clear()
        log.warning("audit record %s (%s %s) queued durably: %s", record.record_id, record.action, record.target,
                    why)
        self._ensure_replayer()
        self._wake.set()

    # -- replay ------------------------------------------------------------------------------
    async def _replay_loop(self) -> None:
        while True:
            if self.queue is None or not self.queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            await retry_for_ever("audit replay", self._replay_batch, DATABASE_AWAY,
                                 min_delay_s=self._retry_min_delay_s, max_delay_s=self._retry_max_delay_s,
                                 on_failure=self._note_failure, logger=log)

    def _note_failure(self, exc: BaseException) -> None:
        self._last_error = f"{type(exc).__name__}: {exc}"

    async def _replay_batch(self) -> None:
        assert self.queue is not None
        records: list[QueueRecord] = self.queue.peek_many(REPLAY_BATCH, 1 << 62)
        if not records:
            return
        pending = [PendingRecord.decode(r.payload) for r in records]
        inserted = 0
        async with self._connect() as conn, conn.transaction():
            for p in pending:  # one by one, in order: the identity column keeps the queue's order
                cur = await conn.execute(_INSERT, p.params())
                inserted += max(cur.rowcount, 0)
        self.queue.commit_many(records)
        self._replayed += inserted
        self._duplicates += len(records) - inserted
        if not self.queue:
            self._empty.set()
            log.warning("audit: %d queued records replayed into the database (%d already there)",
                        self._replayed, self._duplicates)

    async def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until nothing waits in the queue (tests, shutdown)."""
        self._wake.set()
        await asyncio.wait_for(self._drained(), timeout_s)

    def stats(self) -> AuditWriterStats:
        q = self.queue
        return AuditWriterStats(self._committed, self._queued, self._replayed, self._duplicates, self._refused,
                                0 if q is None else q.pending_batches, 0 if q is None else q.bytes_on_disk,
                                self._last_error)

