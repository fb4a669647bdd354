"""Loop events and loop state into the plant database, without ever blocking a loop.

Loops call the event sink and the state store synchronously from their period; both only queue
here. One task writes the queue in order, retrying with backoff while the database is away (the
queue is bounded: past `queue_max` the oldest entries go, counted in `dropped`). Saved states are
loaded once before the loops start, so `load()` never touches the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from control.events import LoopEvent
from control.state import LoopState

log = logging.getLogger(__name__)

_Item = LoopEvent | LoopState


@dataclass
class ControlJournalStats:
    queued: int
    written_events: int
    written_states: int
    dropped: int
    last_error: str | None


class ControlJournal:
    """Event sink and LoopStateStore for control.LoopRunner, backed by loop_events / loop_state."""

    def __init__(self, database_url: str, *, queue_max: int = 100_000, retry_max_delay_s: float = 10.0) -> None:
        self._url = database_url
        self._queue: deque[_Item] = deque()
        self._queue_max = queue_max
        self._retry_max_delay_s = retry_max_delay_s
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._task: asyncio.Task[None] | None = None
        self._saved: dict[str, LoopState] = {}
        self.written_events = 0
        self.written_states = 0
        self.dropped = 0
        self.last_error: str | None = None

    # -- the loops' side (synchronous, returns at once) ------------------------------------------
    def __call__(self, event: LoopEvent) -> None:
        self._put(event)

    def load(self, loop: str) -> LoopState | None:
        return self._saved.get(loop)

    def save(self, state: LoopState) -> None:
        self._saved[state.loop] = state
        self._put(state)

    def _put(self, item: _Item) -> None:
        if len(self._queue) >= self._queue_max:
            self._queue.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error("control journal full: %d oldest entries dropped (database away too long)", self.dropped)
        self._queue.append(item)
        self._drained.clear()
        self._wake.set()

    # -- lifecycle -------------------------------------------------------------------------------
    async def preload(self, connect_timeout_s: float = 5.0) -> None:
        """Read the saved loop states; a database that is away means the loops start from config."""
        try:
            async with await psycopg.AsyncConnection.connect(self._url, connect_timeout=int(connect_timeout_s)) as c:
                rows = await (await c.execute("SELECT loop, state FROM loop_state")).fetchall()
        except (psycopg.Error, OSError) as exc:
            log.error("saved loop states not read (%s): loops start from the plant file", exc)
            return
        for loop, state in rows:
            try:
                self._saved[loop] = LoopState.from_dict(state)
            except ValueError as exc:
                log.error("saved state of loop %s ignored: %s", loop, exc)

    async def start(self) -> None:
        await self.preload()
        self._task = asyncio.create_task(self._run(), name="control-journal")

    async def stop(self, flush_timeout_s: float = 5.0) -> None:
        """Write what is queued (bounded wait), then stop."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drained.wait(), flush_timeout_s)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        if self._queue:
            log.error("control journal stopped with %d entries unwritten (database away)", len(self._queue))

    def stats(self) -> ControlJournalStats:
        return ControlJournalStats(len(self._queue), self.written_events, self.written_states, self.dropped,
                                   self.last_error)

    async def _run(self) -> None:
        delay = 0.2
        conn: psycopg.AsyncConnection[Any] | None = None
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
            batch = list(self._queue)[:1000]
            try:
                if conn is None or conn.closed:
                    conn = await psycopg.AsyncConnection.connect(self._url, connect_timeout=5)
                await self._write(conn, batch)
            except (psycopg.Error, OSError) as exc:
                if self.last_error is None:
                    log.error("control journal cannot write (%s); retrying", exc)
                self.last_error = str(exc)
                if conn is not None:
                    await conn.close()
                conn = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max_delay_s)
                continue
            for _ in batch:
                self._queue.popleft()
            if not self._queue:
                self._drained.set()
            if self.last_error is not None:
                log.info("control journal writing again")
            self.last_error = None
            delay = 0.2

    async def _write(self, conn: psycopg.AsyncConnection[Any], batch: list[_Item]) -> None:
        events = [(e.ts, e.loop, e.kind.value, e.reason, e.actor, Jsonb(e.data))
                  for e in batch if isinstance(e, LoopEvent)]
        states = {s.loop: s for s in batch if isinstance(s, LoopState)}  # the newest state per loop wins
        async with conn.transaction(), conn.cursor() as cur:
            if events:
                await cur.executemany(
                    "INSERT INTO loop_events (ts, loop, kind, reason, actor, data) VALUES (%s, %s, %s, %s, %s, %s)",
                    events)
            if states:
                await cur.executemany(
                    "INSERT INTO loop_state (loop, state, updated) VALUES (%s, %s, now()) "
                    "ON CONFLICT (loop) DO UPDATE SET state = EXCLUDED.state, updated = now()",
                    [(s.loop, Jsonb(s.to_dict())) for s in states.values()])
        self.written_events += len(events)
        self.written_states += len(states)
