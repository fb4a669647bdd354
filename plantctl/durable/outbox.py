"""A journal's outbox: items written in batches by one task, spilled to a durable queue while the database is away.

The producer (an alarm engine, a control loop) calls `put` synchronously and never waits. One task
writes batches of at most `batch_max` items (or whatever arrived within `batch_max_age_s`); every
batch carries an id that the consumer's `write` stores in the same transaction as the rows, so a
batch retried after a commit whose acknowledgement was lost is written once (`write` returns False).
When a write fails because the database is away, everything in memory — the batch in flight first,
with its id — is appended to a DROP_OLDEST durable queue (plantctl.durable.queue) and replayed from
there, in order, before anything newer; retries back off through plantctl.durable.retry. Memory
holds at most `memory_max` items: past that the memory spills to the queue at once. Losses are
counted: `dropped` (the queue's oldest segments when it is full) and `unwritable` (the disk failed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from plantctl.durable.queue import DurableQueue, Overflow
from plantctl.durable.retry import retry_for_ever

log = logging.getLogger(__name__)

T = TypeVar("T")
WriteBatch = Callable[[list[T], uuid.UUID], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class OutboxStats:
    submitted: int
    written: int  # items committed (a retried batch the database already had counts once, in duplicates)
    duplicates: int  # items of batches already committed by an unacknowledged attempt
    batches: int
    failures: int  # failed write attempts (each retried)
    spilled: int  # items moved from memory to the durable queue
    replayed: int  # items written from the durable queue
    dropped: int  # items lost: the durable queue was full and dropped its oldest segment
    unwritable: int  # items lost: neither the database nor the disk would take them
    refused: int  # items lost: the database refused their content, or a queued record could not be decoded
    in_memory: int
    pending_on_disk: int
    queue_bytes: int
    last_error: str


class DurableOutbox(Generic[T]):
    """See the module docstring; `start()` returns at once, `stop()` flushes (bounded) and keeps the rest on disk."""

    def __init__(self, name: str, write: WriteBatch[T], *, encode: Callable[[T], Any], decode: Callable[[Any], T],
                 retry_on: tuple[type[BaseException], ...], queue_dir: Path, queue_max_bytes: int,
                 memory_max: int = 100_000, batch_max: int = 1000, batch_max_age_s: float = 0.2,
                 retry_min_delay_s: float = 0.1, retry_max_delay_s: float = 5.0) -> None:
        if memory_max < 1 or batch_max < 1 or batch_max_age_s <= 0:
            raise ValueError("memory_max and batch_max must be ≥ 1 and batch_max_age_s > 0")
        self.name = name
        self._write = write
        self._encode = encode
        self._decode = decode
        self._retry_on = retry_on
        self.queue = DurableQueue(queue_dir, queue_max_bytes, overflow=Overflow.DROP_OLDEST)
        self.memory_max = memory_max
        self.batch_max = batch_max
        self.batch_max_age_s = batch_max_age_s
        self._retry_min_delay_s = retry_min_delay_s
        self._retry_max_delay_s = retry_max_delay_s
        self._memory: deque[T] = deque()
        self._inflight: tuple[uuid.UUID, int] | None = None  # the memory batch being written: its id and size
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = self._flushing = False
        self._submitted = self._written = self._duplicates = self._batches = self._failures = 0
        self._spilled = self._replayed = self._unwritable = self._refused = 0
        self._spills = 0  # how many times memory went to disk (a batch in flight may have gone with it)
        self._last_error = ""

    # -- the producer's side -----------------------------------------------------------------
    def put(self, item: T) -> None:
        """Queue one item; never waits (past memory_max the memory is spilled to disk first)."""
        self._submitted += 1
        if len(self._memory) >= self.memory_max:
            self._spill()
        self._memory.append(item)
        self._idle.clear()
        if len(self._memory) == 1 or len(self._memory) >= self.batch_max:
            self._notify()  # the first item starts the batch_max_age_s clock; a full batch goes at once

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

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        if self.queue:
            self._idle.clear()
        self._task = asyncio.create_task(self._run(), name=f"{self.name}-writer")

    async def stop(self, flush_timeout_s: float = 5.0) -> None:
        """Write what is queued (for up to flush_timeout_s), then stop; the rest goes to the durable queue."""
        task = self._task
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), flush_timeout_s)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self._task = None
        self._inflight = None
        self._spill()
        if self.queue:
            log.warning("%s stopped with %d items kept on disk for the next start", self.name,
                        self.queue.pending_rows)
        self.queue.close()

    async def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until everything put so far is written (tests, shutdown)."""
        self._flushing = True
        self._wake.set()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        finally:
            self._flushing = False

    # -- durable queue -----------------------------------------------------------------------
    def _record(self, batch_id: uuid.UUID, items: list[T]) -> tuple[bytes, int]:
        payload = {"id": str(batch_id), "items": [self._encode(i) for i in items]}
        return json.dumps(payload, separators=(",", ":")).encode(), len(items)

    def _spill(self) -> None:
        """Move memory (oldest first; the batch in flight keeps its id) to the durable queue, one fsync."""
        if not self._memory:
            return
        items = list(self._memory)
        records: list[tuple[bytes, int]] = []
        start = 0
        if self._inflight is not None:
            batch_id, n = self._inflight
            records.append(self._record(batch_id, items[:n]))
            start = n
        for i in range(start, len(items), self.batch_max):
            records.append(self._record(uuid.uuid4(), items[i:i + self.batch_max]))
        dropped_before = self.queue.counters.dropped_rows
        try:
            self.queue.append_many(records)
        except OSError as exc:
            self._last_error = f"cannot write the durable queue: {exc}"
            if len(self._memory) < self.memory_max:
                log.error("%s: %s; keeping %d items in memory", self.name, self._last_error, len(items))
                return
            lost = len(self._memory) - self.memory_max // 2  # keep the newer half, count the rest
            for _ in range(lost):
                self._memory.popleft()
            self._unwritable += lost
            self._inflight = None
            log.error("%s: %s; memory full, %d oldest items lost", self.name, self._last_error, lost)
            return
        self._memory.clear()
        self._inflight = None
        self._spills += 1
        self._spilled += len(items)
        if self.queue.counters.dropped_rows > dropped_before:
            log.error("%s: durable queue full, %d items dropped in total", self.name, self.queue.counters.dropped_rows)

    # -- the writer task ---------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            if self.queue:
                await retry_for_ever(f"{self.name} replay", self._replay_one, self._retry_on,
                                     min_delay_s=self._retry_min_delay_s, max_delay_s=self._retry_max_delay_s,
                                     on_failure=self._failed, logger=log)
                continue
            if not self._memory:
                self._idle.set()
                if self._stopping:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            if len(self._memory) < self.batch_max and not (self._stopping or self._flushing):
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.batch_max_age_s)
            await self._write_memory_batch()

    def _failed(self, exc: BaseException) -> None:
        self._failures += 1
        self._last_error = f"{type(exc).__name__}: {exc}"
        self._spill()  # what arrived meanwhile goes behind the records being replayed

    async def _replay_one(self) -> None:
        record = self.queue.peek()
        if record is None:
            return
        try:
            d = json.loads(record.payload)
            items = [self._decode(i) for i in d["items"]]
            batch_id = uuid.UUID(d["id"])
        except (ValueError, KeyError, TypeError) as exc:
            self._refuse(record.rows, f"undecodable queued record: {exc}")
            self.queue.commit(record)
            return
        try:
            fresh = await self._write(items, batch_id)
        except self._retry_on:
            raise
        except Exception as exc:  # the database refused the content: retrying would block the journal for ever
            self._refuse(len(items), f"refused by the database: {type(exc).__name__}: {exc}")
            self.queue.commit(record)
            return
        self.queue.commit(record)
        self._count(len(items), fresh)
        self._replayed += len(items)

    async def _write_memory_batch(self) -> None:
        if self._inflight is None:
            self._inflight = (uuid.uuid4(), min(len(self._memory), self.batch_max))
        batch_id, n = self._inflight
        batch = [self._memory[i] for i in range(n)]
        spills = self._spills
        try:
            fresh = await self._write(batch, batch_id)
        except self._retry_on as exc:
            if self._spills != spills:
                return  # spilled meanwhile (memory full): the replay retries it, under the same id
            self._failures += 1
            self._last_error = f"{type(exc).__name__}: {exc}"
            log.warning("%s: write of %d items failed (%s); spilling to %s", self.name, n, self._last_error,
                        self.queue.directory)
            self._spill()  # the replay path retries with backoff, in order
            return
        except Exception as exc:  # the database refused the content: count it, never block the journal
            if self._spills == spills:
                for _ in range(n):
                    self._memory.popleft()
                self._inflight = None
                self._refuse(n, f"refused by the database: {type(exc).__name__}: {exc}")
            return
        if self._spills != spills:
            return  # spilled while in flight: its replay finds the batch id and writes nothing twice
        for _ in range(n):
            self._memory.popleft()
        self._inflight = None
        self._count(n, fresh)

    def _refuse(self, n: int, why: str) -> None:
        self._refused += n
        self._last_error = why
        log.error("%s: %d items not written: %s", self.name, n, why)

    def _count(self, n: int, fresh: bool) -> None:
        self._written += n
        self._batches += 1
        if not fresh:
            self._duplicates += n

    def stats(self) -> OutboxStats:
        c = self.queue.counters
        return OutboxStats(self._submitted, self._written, self._duplicates, self._batches, self._failures,
                           self._spilled, self._replayed, c.dropped_rows, self._unwritable, self._refused,
                           len(self._memory),
                           self.queue.pending_rows, self.queue.bytes_on_disk, self._last_error)
