"""A setpoint change with the database stopped is applied, and its audit row appears once it is back: once, in order."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from control.loop import Loop
from plantctl.audit import AuditAction, AuditRecord, AuditTrail
from plantctl.db import LocalDatabase
from plantctl.db.migrate import apply_migrations
from plantctl.plantfile import load_plant
from plantctl.samples import utcnow

pytestmark = [pytest.mark.anyio, pytest.mark.db, pytest.mark.slow]
PLANT = load_plant("examples/plant.yaml")


def _rows(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT actor, old_value, new_value FROM audit_log WHERE action = 'setpoint' "
                            "AND target = 'PHC-101' ORDER BY id").fetchall()


def _wait_for_rows(url: str, n: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while len(_rows(url)) < n and time.monotonic() < deadline:
        time.sleep(0.5)


@pytest.mark.timeout(120)
async def test_setpoint_change_with_the_database_stopped_is_applied_and_audited_once_in_order(
        private_db_server: LocalDatabase, tmp_path: Path) -> None:
    url = private_db_server.create_database("audit_outage")
    await asyncio.to_thread(apply_migrations, url)
    trail = AuditTrail(url, queue_dir=tmp_path / "audit-queue", write_timeout_s=2.0)
    await trail.start()
    loop = Loop.from_plant(PLANT, "PHC-101", lambda _e: None)
    first = loop.setpoint

    async def change(sp: float) -> None:
        old = loop.setpoint
        await trail.apply_audited(
            lambda: loop.set_setpoint(sp, "olga", utcnow()),
            lambda _: AuditRecord("olga", AuditAction.SETPOINT, "PHC-101", {"value": old, "unit": "pH"},
                                  {"value": loop.setpoint, "unit": "pH"}, "127.0.0.1", {"via": "session"}))

    await asyncio.to_thread(private_db_server.down)
    try:
        for sp in (7.1, 7.3):
            await change(sp)  # returns once the record is durable (spooled), not when the database is back
        assert loop.setpoint == 7.3  # applied while the database was away
    finally:
        await asyncio.to_thread(private_db_server.start)
    await change(7.4)  # and one more once it is back: after the two, not before

    want = [("olga", {"value": first, "unit": "pH"}, {"value": 7.1, "unit": "pH"}),
            ("olga", {"value": 7.1, "unit": "pH"}, {"value": 7.3, "unit": "pH"}),
            ("olga", {"value": 7.3, "unit": "pH"}, {"value": 7.4, "unit": "pH"})]
    try:
        await asyncio.to_thread(_wait_for_rows, url, 3, 60)
        await asyncio.sleep(2)  # a replay that doubles would show by now
        assert await asyncio.to_thread(_rows, url) == want
    finally:
        await trail.stop()
