"""The control journal across a real database outage: loop events kept on disk, written once, in order."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from control.events import LoopEvent, LoopEventKind
from control.state import LoopState
from plantctl.config.models import LoopMode
from plantctl.db import LocalDatabase
from plantctl.db.migrate import apply_migrations
from plantctl.runtime.control_journal import ControlJournal

pytestmark = [pytest.mark.anyio, pytest.mark.db, pytest.mark.slow]
T0 = datetime(2026, 12, 5, tzinfo=UTC)


@pytest.fixture
def outage_db(private_db_server: LocalDatabase) -> Iterator[tuple[LocalDatabase, str]]:
    name = f"c_{uuid.uuid4().hex[:10]}"
    url = private_db_server.create_database(name)
    apply_migrations(url)
    yield private_db_server, url
    private_db_server.start()
    private_db_server.drop_database(name)


def _event(i: int) -> LoopEvent:
    return LoopEvent(T0 + timedelta(seconds=i), "AIC-101", LoopEventKind.MODE_CHANGE, f"step {i}", "alice",
                     {"n": float(i)})


def _state(i: int) -> LoopState:
    return LoopState("AIC-101", LoopMode.AUTO, 7.0 + i / 100, 40.0, 12.0, T0 + timedelta(seconds=i))


async def test_events_during_an_outage_are_written_once_in_order_and_the_newest_state_wins(
        outage_db: tuple[LocalDatabase, str], tmp_path: Path) -> None:
    db, url = outage_db
    journal = ControlJournal(url, state_dir=tmp_path, retry_max_delay_s=0.5)
    await journal.start()
    journal(_event(0))
    await journal.flush(10)
    await asyncio.to_thread(db.down)
    for i in range(1, 6):
        journal(_event(i))
        journal.save(_state(i))
    for _ in range(100):
        await asyncio.sleep(0.1)
        if journal.outbox.stats().pending_on_disk:
            break
    assert journal.outbox.stats().pending_on_disk > 0
    await journal.stop()  # the service stops while the database is still away: entries stay on disk

    await asyncio.to_thread(db.start)
    again = ControlJournal(url, state_dir=tmp_path, retry_max_delay_s=0.5)
    await again.start()
    again(_event(6))
    await again.flush(30)
    await again.stop()
    with psycopg.connect(url) as conn:
        reasons = [r[0] for r in conn.execute("SELECT reason FROM loop_events ORDER BY id")]
        state = conn.execute("SELECT state FROM loop_state WHERE loop = 'AIC-101'").fetchone()
    assert reasons == [f"step {i}" for i in range(7)]
    assert state is not None and LoopState.from_dict(state[0]) == _state(5)
