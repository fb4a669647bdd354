"""The outbox's order and exactly-once logic, with a stand-in database (a dict of committed batch ids)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from plantctl.durable.outbox import DurableOutbox
from plantctl.durable.retry import Backoff


class Database:
    """Commits batches by id, once each, like a table with a primary key on the batch id; can be down."""

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.ids: set[uuid.UUID] = set()
        self.up = True
        self.gate: asyncio.Event | None = None  # when set, a write waits for it (a slow commit)

    async def write(self, batch: list[int], batch_id: uuid.UUID) -> bool:
        if self.gate is not None:
            await self.gate.wait()
        if not self.up:
            raise ConnectionError("database away")
        if batch_id in self.ids:
            return False
        self.ids.add(batch_id)
        self.rows += batch
        return True


def _outbox(db: Database, tmp_path: Path, **kw: int) -> DurableOutbox[int]:
    return DurableOutbox("test journal", db.write, encode=lambda i: i, decode=int, retry_on=(ConnectionError,),
                         queue_dir=tmp_path / "q", queue_max_bytes=1 << 20, batch_max_age_s=0.01,
                         retry_min_delay_s=0.01, retry_max_delay_s=0.05, **kw)


@pytest.mark.anyio
async def test_items_put_while_the_database_is_away_are_written_once_in_order(tmp_path: Path) -> None:
    db = Database()
    box = _outbox(db, tmp_path, batch_max=7)
    await box.start()
    for i in range(20):
        box.put(i)
    await box.flush(5)
    db.up = False
    for i in range(20, 50):
        box.put(i)
    await asyncio.sleep(0.2)
    assert box.stats().pending_on_disk > 0  # spilled to disk while away
    db.up = True
    for i in range(50, 60):
        box.put(i)
    await box.flush(5)
    await box.stop()
    assert db.rows == list(range(60))
    assert box.stats().failures >= 1 and box.stats().replayed >= 30


@pytest.mark.anyio
async def test_a_batch_spilled_while_its_commit_is_in_flight_is_not_written_twice(tmp_path: Path) -> None:
    db = Database()
    box = _outbox(db, tmp_path, batch_max=5, memory_max=10)
    db.gate = asyncio.Event()
    await box.start()
    for i in range(5):
        box.put(i)
    await asyncio.sleep(0.05)  # batch 0-4 is in flight, its commit held
    for i in range(5, 15):
        box.put(i)  # memory_max reached: everything, the batch in flight included, goes to disk
    assert box.stats().spilled >= 10
    db.gate.set()  # the held commit lands; the replay then meets the same batch id
    await box.flush(5)
    await box.stop()
    assert db.rows == list(range(15))
    assert box.stats().duplicates == 5


@pytest.mark.anyio
async def test_what_is_left_at_stop_is_written_at_the_next_start(tmp_path: Path) -> None:
    db = Database()
    db.up = False
    box = _outbox(db, tmp_path)
    await box.start()
    for i in range(12):
        box.put(i)
    await box.stop(flush_timeout_s=0.2)
    db.up = True
    again = _outbox(db, tmp_path)
    assert again.stats().pending_on_disk == 12
    await again.start()
    await again.flush(5)
    await again.stop()
    assert db.rows == list(range(12))


@pytest.mark.anyio
async def test_a_batch_the_database_refuses_is_counted_and_the_journal_goes_on(tmp_path: Path) -> None:
    db = Database()

    async def picky(batch: list[int], batch_id: uuid.UUID) -> bool:
        if 3 in batch:
            raise ValueError("value out of range for the column")
        return await db.write(batch, batch_id)

    box = DurableOutbox("test journal", picky, encode=lambda i: i, decode=int, retry_on=(ConnectionError,),
                        queue_dir=tmp_path / "q", queue_max_bytes=1 << 20, batch_max=2, batch_max_age_s=0.01)
    await box.start()
    for i in range(6):
        box.put(i)
    await box.flush(5)
    await box.stop()
    assert db.rows == [0, 1, 4, 5] and box.stats().refused == 2


def test_backoff_doubles_from_the_minimum_to_the_maximum_and_resets() -> None:
    b = Backoff(0.2, 1.0)
    assert [b.next_delay() for _ in range(5)] == [0.2, 0.4, 0.8, 1.0, 1.0]
    b.reset()
    assert b.next_delay() == 0.2
