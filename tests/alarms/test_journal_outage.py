"""The journal writer across a real database outage: the batch is kept and written once the server is back."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from plantctl.alarms.engine import AlarmEngine
from plantctl.alarms.journal import AlarmJournal
from plantctl.db import LocalDatabase
from plantctl.historian.migrate import apply_migrations
from plantctl.samples import Sample

from .recorded import alarm, at

pytestmark = [pytest.mark.anyio, pytest.mark.db, pytest.mark.slow]


async def test_transitions_during_an_outage_are_written_after_it(private_db_server: LocalDatabase) -> None:
    url = private_db_server.create_database("alarms_outage")
    apply_migrations(url)
    journal = AlarmJournal(url, batch_max_age_s=0.05, retry_max_delay_s=0.2, connect_timeout_s=2)
    await journal.start()
    engine = AlarmEngine([alarm(name="T.H", tag="T", type="H", limit=10.0)], sink=journal.submit)
    engine.process([Sample("T", at(0), 20.0)], at(0))
    await journal.flush()

    await asyncio.to_thread(private_db_server.kill)  # the server dies
    for k in range(1, 21):
        engine.process([Sample("T", at(k), 20.0 if k % 2 == 0 else 0.0)], at(k))
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.5)
    assert journal.stats.failures >= 1 and journal.queued == 20

    await asyncio.to_thread(private_db_server.start)
    await journal.flush(30)
    await journal.stop()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM alarm_journal").fetchone() == (21,)
    assert journal.stats.dropped == 0
