"""The journal on the real TimescaleDB: every transition stored, state restored after restart, floods lossless."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import psycopg
import pytest

from plantctl.alarms.engine import AlarmEngine
from plantctl.alarms.journal import AlarmJournal, load_snapshots, read_journal, write_batch
from plantctl.alarms.states import AlarmState
from plantctl.config.models import AlarmConfig
from plantctl.samples import Sample

from .recorded import alarm, at

pytestmark = [pytest.mark.anyio, pytest.mark.db]


def _count(url: str, sql: str = "SELECT count(*) FROM alarm_journal") -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql).fetchone()
        assert row is not None
        return int(row[0])


def _plant_alarms() -> list[AlarmConfig]:
    return [
        alarm(name="LIT-101.HH", tag="LIT-101", type="HH", limit=95, priority=1),
        alarm(name="AIT-101.H", tag="AIT-101", type="H", limit=8.5, priority=3),
        alarm(name="AIT-101.L", tag="AIT-101", type="L", limit=6.5, priority=3),
        alarm(name="P-201.FAULT", tag="P-201.FAULT", type="discrete", limit=1, priority=2),
    ]


async def test_journal_is_a_hypertable_and_stores_transitions_with_user_and_comment(alarm_db: str) -> None:
    journal = AlarmJournal(alarm_db, batch_max_age_s=0.05)
    await journal.start()
    engine = AlarmEngine(_plant_alarms(), sink=journal.submit, units={"LIT-101": "%"})
    engine.process([Sample("LIT-101", at(0), 96.0)], at(0))
    engine.acknowledge(["LIT-101.HH"], "alice", "overflow weir checked", at(5))
    engine.process([Sample("LIT-101", at(9), 80.0)], at(9))
    await journal.flush()
    await journal.stop()

    rows = await read_journal(alarm_db, at(0), at(60))
    assert [(r.alarm, r.event, r.old_state, r.new_state, r.user, r.comment) for r in rows] == [
        ("LIT-101.HH", "activate", "NORM", "UNACK", "", ""),
        ("LIT-101.HH", "ack", "UNACK", "ACKED", "alice", "overflow weir checked"),
        ("LIT-101.HH", "clear", "ACKED", "NORM", "", ""),
    ]
    assert (rows[0].value, rows[0].unit, rows[0].quality, rows[0].ts) == (96.0, "%", 0xC0, at(0))
    with psycopg.connect(alarm_db) as conn:
        hyper = conn.execute("SELECT count(*) FROM timescaledb_information.hypertables "
                             "WHERE hypertable_name = 'alarm_journal'").fetchone()
    assert hyper == (1,)


async def test_active_and_shelved_alarms_survive_a_restart(alarm_db: str) -> None:
    journal = AlarmJournal(alarm_db, batch_max_age_s=0.05)
    await journal.start()
    engine = AlarmEngine(_plant_alarms(), sink=journal.submit)
    engine.process([Sample("LIT-101", at(0), 97.0), Sample("AIT-101", at(0), 9.0),
                    Sample("P-201.FAULT", at(0), 1.0)], at(0))
    engine.acknowledge(["LIT-101.HH"], "alice", "", at(1))
    engine.shelve("AIT-101.H", "bob", "probe in buffer solution", at(2), duration_s=3600)
    engine.remove_from_service("AIT-101.L", "tech", "calibration", at(3))
    before = {s.name: s.state for s in engine.statuses()}
    await journal.flush()
    await journal.stop()  # the service stops

    restarted = AlarmEngine(_plant_alarms())
    assert restarted.restore(await load_snapshots(alarm_db)) == []
    after = {s.name: s.state for s in restarted.statuses()}
    assert after == before == {"LIT-101.HH": AlarmState.ACKED, "AIT-101.H": AlarmState.SHLVD,
                               "AIT-101.L": AlarmState.OOSRV, "P-201.FAULT": AlarmState.UNACK}
    assert restarted.status("AIT-101.H").shelved_until == at(2) + timedelta(seconds=3600)
    assert restarted.status("AIT-101.H").shelve_reason == "probe in buffer solution"
    # the still-high level after the restart is not a new activation; the shelve still expires on time
    assert restarted.process([Sample("LIT-101", at(10), 97.0)], at(10)) == []
    assert [t.alarm for t in restarted.tick(at(3602))] == ["AIT-101.H"]


async def test_a_flood_of_1000_transitions_per_second_for_30_s_loses_nothing(alarm_db: str) -> None:
    n_alarms, step_s, seconds = 100, 0.1, 30
    journal = AlarmJournal(alarm_db)
    await journal.start()
    engine = AlarmEngine([alarm(name=f"T{i:03d}.H", tag=f"T{i:03d}", type="H", limit=10.0)
                          for i in range(n_alarms)], sink=journal.submit)
    steps = int(seconds / step_s)
    for k in range(steps):  # simulated clock: every tag crosses its limit every 100 ms
        ts = at(k * step_s)
        engine.process([Sample(f"T{i:03d}", ts, 20.0 if k % 2 == 0 else 0.0) for i in range(n_alarms)], ts)
        await asyncio.sleep(0)  # the runtime's consumer yields between batches; the writer runs meanwhile
    await journal.flush(60)
    await journal.stop()

    produced = n_alarms * steps  # each step flips every alarm: 100 × 300 = 30,000 (1,000/s for 30 s)
    assert engine.stats.transitions == produced == 30_000
    assert journal.stats.dropped == 0
    assert journal.stats.written == produced
    assert _count(alarm_db) == produced
    # the last step (k = 299, odd) cleared every alarm: RTNUN, unacknowledged
    assert _count(alarm_db, "SELECT count(*) FROM alarm_state WHERE state = 'RTNUN'") == n_alarms


async def test_a_burst_beyond_memory_goes_to_disk_and_is_all_written(alarm_db: str) -> None:
    journal = AlarmJournal(alarm_db, queue_max=10)
    await journal.start()
    engine = AlarmEngine([alarm(name="T.H", tag="T", type="H", limit=10.0)], sink=journal.submit)
    for k in range(25):  # no await in between: the writer cannot drain, memory overflows to the disk queue
        engine.process([Sample("T", at(k), 20.0 if k % 2 == 0 else 0.0)], at(k))
    assert journal.outbox.stats().spilled >= 20
    await journal.flush()
    await journal.stop()
    assert journal.stats.dropped == 0
    assert _count(alarm_db) == 25
    assert _count(alarm_db, "SELECT count(DISTINCT ts) FROM alarm_journal") == 25


async def test_overflow_of_the_disk_queue_is_counted_and_the_restart_state_still_right(alarm_db: str) -> None:
    journal = AlarmJournal(alarm_db, queue_max=5, queue_max_bytes=2048)
    await journal.start()
    engine = AlarmEngine([alarm(name="T.H", tag="T", type="H", limit=10.0)], sink=journal.submit)
    for k in range(25):  # no await in between; the small disk queue drops its oldest segments
        engine.process([Sample("T", at(k), 20.0 if k % 2 == 0 else 0.0)], at(k))
    await journal.flush()
    await journal.stop()
    dropped = journal.stats.dropped
    assert dropped > 0 and _count(alarm_db) == 25 - dropped
    snaps = await load_snapshots(alarm_db)
    assert snaps["T.H"].active is True  # k = 24 raised it: the newest state reached alarm_state


async def test_restart_state_follows_engine_order_even_when_a_late_sample_is_stamped_earlier(alarm_db: str) -> None:
    journal = AlarmJournal(alarm_db, batch_max_age_s=0.05)
    await journal.start()
    engine = AlarmEngine([alarm(name="T.H", tag="T", type="H", limit=10.0)], sink=journal.submit)
    engine.process([Sample("T", at(10), 20.0)], at(10))
    engine.acknowledge(["T.H"], "alice", "", at(20))
    engine.process([Sample("T", at(15), 0.0)], at(21))  # arrives after the ack, measured before it
    assert engine.status("T.H").state is AlarmState.NORM
    await journal.flush()
    await journal.stop()
    snaps = await load_snapshots(alarm_db)
    restarted = AlarmEngine([alarm(name="T.H", tag="T", type="H", limit=10.0)])
    restarted.restore(snaps)
    assert restarted.status("T.H").state is AlarmState.NORM



async def test_a_retried_batch_that_was_already_committed_is_not_written_twice(alarm_db: str) -> None:
    engine = AlarmEngine([alarm(name="T.H", tag="T", type="H", limit=10.0)])
    batch = engine.process([Sample("T", at(0), 20.0)], at(0)) + engine.process([Sample("T", at(1), 0.0)], at(1))
    batch_id = uuid.uuid4()
    async with await psycopg.AsyncConnection.connect(alarm_db) as conn:
        assert await write_batch(conn, batch, batch_id=batch_id) is True
        # the commit's acknowledgement was lost: the writer retries the same batch under the same id
        assert await write_batch(conn, batch, batch_id=batch_id) is False
        assert await write_batch(conn, batch, batch_id=uuid.uuid4()) is True  # a different batch is written
    assert _count(alarm_db) == 4
