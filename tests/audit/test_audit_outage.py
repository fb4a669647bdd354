"""The audit trail across a real database outage: durable while it is away, replayed in order, exactly once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from plantctl.audit import AuditNotDurableError, AuditTrail
from plantctl.audit.durable import PendingRecord
from plantctl.db import LocalDatabase
from plantctl.db.migrate import apply_migrations
from plantctl.durable import DurableQueue, Overflow

pytestmark = [pytest.mark.anyio, pytest.mark.db, pytest.mark.slow]


@pytest.fixture
def outage_db(private_db_server: LocalDatabase) -> Iterator[tuple[LocalDatabase, str]]:
    """A migrated database on a server this module may stop; the server is running again afterwards."""
    name = f"a_{uuid.uuid4().hex[:10]}"
    url = private_db_server.create_database(name)
    apply_migrations(url)
    yield private_db_server, url
    private_db_server.start()
    private_db_server.drop_database(name)


@pytest.fixture
async def trail_factory() -> AsyncIterator[list[AuditTrail]]:
    made: list[AuditTrail] = []
    yield made
    for t in made:
        await t.stop()


def _rows(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT id, actor, action, target, new_value, occurred, record_id, ts "
                            "FROM audit_log ORDER BY id").fetchall()


def _trail(url: str, made: list[AuditTrail], queue_dir: Path | None, **kw: object) -> AuditTrail:
    t = AuditTrail(url, queue_dir=queue_dir, write_timeout_s=2.0, **kw)  # type: ignore[arg-type]
    made.append(t)
    return t


async def test_records_made_while_the_database_is_down_appear_once_in_order_when_it_returns(
        outage_db: tuple[LocalDatabase, str], trail_factory: list[AuditTrail], tmp_path: Path) -> None:
    db, url = outage_db
    trail = _trail(url, trail_factory, tmp_path / "audit-queue")
    await trail.start()
    before = await trail.record("alice", "setpoint", "AIC-101", {"value": 7.0}, {"value": 7.1}, "10.0.0.7")
    assert not before.queued and before.entry is not None

    await asyncio.to_thread(db.down)
    down = [await trail.record("alice", "setpoint", "AIC-101", {"value": 7.0 + i / 10}, {"value": 7.2 + i / 10},
                               "10.0.0.7") for i in range(3)]
    assert all(r.queued for r in down)
    assert trail.stats().pending == 3 and trail.stats().queued == 3

    await asyncio.to_thread(db.start)
    after = await trail.record("bob", "mode", "AIC-101", {"mode": "MAN"}, {"mode": "AUTO"}, "10.0.0.8")
    await trail.writer.flush(30)

    rows = _rows(url)
    assert [r[6] for r in rows] == [before.record_id] + [r.record_id for r in down] + [after.record_id]
    assert [r[4] for r in rows] == [{"value": 7.1}, {"value": 7.2}, {"value": 7.3}, {"value": 7.4},
                                    {"mode": "AUTO"}]
    for row, receipt in zip(rows[1:4], down, strict=True):
        assert row[5] == receipt.occurred  # the time of the action, not of the replay
        assert row[7] > receipt.occurred  # ts: the server's clock at the (later) insert
    st = trail.stats()
    assert st.pending == 0 and st.replayed + st.committed >= 4 and st.refused == 0


async def test_a_record_committed_but_never_acknowledged_is_not_stored_twice(
        outage_db: tuple[LocalDatabase, str], trail_factory: list[AuditTrail], tmp_path: Path) -> None:
    _db, url = outage_db
    lost_ack = PendingRecord(uuid.uuid4(), datetime.now(UTC), "alice", "setpoint", "AIC-101", None, {"value": 7.5},
                             "10.0.0.7", {})
    with psycopg.connect(url, autocommit=True) as conn:  # the COMMIT reached the server; its reply did not
        conn.execute("INSERT INTO audit_log (record_id, occurred, actor, action, target, new_value) "
                     "VALUES (%s, %s, 'alice', 'setpoint', 'AIC-101', '{\"value\": 7.5}')",
                     (lost_ack.record_id, lost_ack.occurred))
    left = DurableQueue(tmp_path / "audit-queue", 1 << 20, overflow=Overflow.REFUSE_NEW)
    left.append(lost_ack.encode(), 1)  # ... so the service queued it, and stopped before the replay
    left.close()
    trail = _trail(url, trail_factory, tmp_path / "audit-queue")
    await trail.start()
    await trail.writer.flush(30)
    assert [r[6] for r in _rows(url)] == [lost_ack.record_id]
    assert trail.stats().replay_duplicates == 1


async def test_queued_records_survive_a_service_restart(
        outage_db: tuple[LocalDatabase, str], trail_factory: list[AuditTrail], tmp_path: Path) -> None:
    db, url = outage_db
    first = _trail(url, trail_factory, tmp_path / "audit-queue")
    await asyncio.to_thread(db.down)
    queued = [await first.record("alice", "ack", f"LIT-101.HH{i}") for i in range(2)]
    await first.stop()  # the service stops while the database is still away

    await asyncio.to_thread(db.start)
    second = _trail(url, trail_factory, tmp_path / "audit-queue")
    assert second.stats().pending == 2
    await second.start()
    await second.writer.flush(30)
    assert [r[6] for r in _rows(url)] == [r.record_id for r in queued]


async def test_a_full_queue_refuses_the_record_instead_of_dropping_one(
        outage_db: tuple[LocalDatabase, str], trail_factory: list[AuditTrail], tmp_path: Path) -> None:
    db, url = outage_db
    trail = _trail(url, trail_factory, tmp_path / "audit-queue", queue_max_bytes=1024)
    await asyncio.to_thread(db.down)
    kept = []
    with pytest.raises(AuditNotDurableError, match="full"):
        for i in range(20):
            kept.append(await trail.record("alice", "setpoint", "AIC-101", {"value": i}, {"value": i + 1},
                                           "10.0.0.7", {"reason": "x" * 100}))
    assert 1 <= len(kept) < 20
    st = trail.stats()
    assert st.refused == 1 and st.pending == len(kept)
    await asyncio.to_thread(db.start)
    await trail.writer.flush(30)
    assert [r[6] for r in _rows(url)] == [r.record_id for r in kept]  # every accepted one, none refused


async def test_without_a_queue_a_record_the_database_cannot_take_is_refused(
        outage_db: tuple[LocalDatabase, str], trail_factory: list[AuditTrail]) -> None:
    db, url = outage_db
    trail = _trail(url, trail_factory, None)
    await asyncio.to_thread(db.down)
    with pytest.raises(AuditNotDurableError, match="no durable queue"):
        await trail.record("alice", "setpoint", "AIC-101", 7.0, 7.5)
    assert trail.stats().refused == 1
