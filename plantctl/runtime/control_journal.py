"""Loop events and loop state into the plant database, without ever blocking a loop.

Loops call the event sink and the state store synchronously from their period; both only queue
in a durable outbox (plantctl.durable.outbox): one task writes batches in order, each with an id
stored in the same transaction (control_journal_batches) so a retried batch is written once; while
the database is away the entries spill to a durable queue on disk (fsync'd, replayed first when it
returns; when full its oldest segment is dropped and counted in `dropped`). Saved states are loaded
once before the loops start, so `load()` never touches the network.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from control.events import LoopEvent, LoopEventKind
from control.state import LoopState
from plantctl.db.pool import ServicePool, connection
from plantctl.durable.outbox import DurableOutbox
from plantctl.durable.queue import max_bytes_for
from plantctl.durable.retry import DATABASE_AWAY

log = logging.getLogger(__name__)

_Item = LoopEvent | LoopState
ENTRY_BYTES = 200
"""A loop event or state as queued on disk (JSON): 167 B (setpoint event) and 187 B (state) measured."""
QUEUE_MAX_BYTES = max_bytes_for(outage_s=7 * 86400, records_per_s=5, bytes_per_record=ENTRY_BYTES)
"""A week of outage at 5 entries/s (a few loops' states every period plus their events): ≈ 641 MB."""


@dataclass
class ControlJournalStats:
    queued: int  # in memory and on disk, not yet written
    written_events: int
    written_states: int
    dropped: int
    last_error: str | None


def _encode(item: _Item) -> dict[str, Any]:
    if isinstance(item, LoopState):
        return {"state": item.to_dict()}
    return {"event": {"ts": item.ts.isoformat(), "loop": item.loop, "kind": item.kind.value, "reason": item.reason,
                      "actor": item.actor, "data": item.data}}


def _decode(d: dict[str, Any]) -> _Item:
    if "state" in d:
        return LoopState.from_dict(d["state"])
    e = d["event"]
    return LoopEvent(datetime.fromisoformat(e["ts"]), e["loop"], LoopEventKind(e["kind"]), e["reason"], e["actor"],
                     dict(e["data"]))


class ControlJournal:
    """Event sink and LoopStateStore for control.LoopRunner, backed by loop_events / loop_state."""

    def __init__(self, database_url: str, *, state_dir: Path | None = None, memory_max: int = 100_000,
                 queue_max_bytes: int = QUEUE_MAX_BYTES, retry_max_delay_s: float = 10.0,
                 pool: ServicePool | None = None) -> None:
        if state_dir is None:
            from plantctl.paths import state_dir as default_state_dir
            state_dir = default_state_dir()
        self._url = database_url
        self._db: str | ServicePool = database_url if pool is None else pool  # preload reads the service pool
        self._conn: psycopg.AsyncConnection[Any] | None = None  # the writer's own connection
        self._saved: dict[str, LoopState] = {}
        self.outbox: DurableOutbox[_Item] = DurableOutbox(
            "control journal", self._write, encode=_encode, decode=_decode, retry_on=DATABASE_AWAY,
            queue_dir=state_dir / "control-journal", queue_max_bytes=queue_max_bytes, memory_max=memory_max,
            retry_min_delay_s=0.2, retry_max_delay_s=retry_max_delay_s)
        self.written_events = 0
        self.written_states = 0

    # -- the loops' side (synchronous, returns at once) ------------------------------------------
    def __call__(self, event: LoopEvent) -> None:
        self.outbox.put(event)

    def load(self, loop: str) -> LoopState | None:
        return self._saved.get(loop)

    def save(self, state: LoopState) -> None:
        self._saved[state.loop] = state
        self.outbox.put(state)

    # -- lifecycle -------------------------------------------------------------------------------
    async def preload(self, connect_timeout_s: float = 5.0) -> None:
        """Read the saved loop states; a database that is away means the loops start from config."""
        try:
            async with connection(self._db, connect_timeout_s) as c:
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
        await self.outbox.start()

    async def stop(self, flush_timeout_s: float = 5.0) -> None:
        """Write what is queued (bounded wait), then stop; what is left stays on disk for the next start."""
        await self.outbox.stop(flush_timeout_s)
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def flush(self, timeout_s: float = 30.0) -> None:
        await self.outbox.flush(timeout_s)

    def stats(self) -> ControlJournalStats:
        s = self.outbox.stats()
        return ControlJournalStats(s.in_memory + s.pending_on_disk, self.written_events, self.written_states,
                                   s.dropped + s.unwritable + s.refused, s.last_error or None)

    async def _write(self, batch: list[_Item], batch_id: uuid.UUID) -> bool:
        """One transaction: the batch id (exactly once), the events, the newest state per loop."""
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True, connect_timeout=5)
        conn = self._conn
        events = [(e.ts, e.loop, e.kind.value, e.reason, e.actor, Jsonb(e.data))
                  for e in batch if isinstance(e, LoopEvent)]
        states = {s.loop: s for s in batch if isinstance(s, LoopState)}  # the newest state per loop wins
        try:
            async with conn.transaction(), conn.cursor() as cur:
                await cur.execute("INSERT INTO control_journal_batches (batch_id, items) VALUES (%s, %s) "
                                  "ON CONFLICT (batch_id) DO NOTHING RETURNING 1", (batch_id, len(batch)))
                if await cur.fetchone() is None:
                    return False
                if events:
                    await cur.executemany(
                        "INSERT INTO loop_events (ts, loop, kind, reason, actor, data) "
                        "VALUES (%s, %s, %s, %s, %s, %s)", events)
                if states:
                    await cur.executemany(
                        "INSERT INTO loop_state (loop, state, updated) VALUES (%s, %s, now()) "
                        "ON CONFLICT (loop) DO UPDATE SET state = EXCLUDED.state, updated = now()",
                        [(s.loop, Jsonb(s.to_dict())) for s in states.values()])
                await cur.execute("DELETE FROM control_journal_batches WHERE written < now() - interval '1 day'")
        except DATABASE_AWAY:
            self._conn = None
            await conn.close()
            raise
        self.written_events += len(events)
        self.written_states += len(states)
        return True
