"""The audit trail on the real database: what is recorded, how it is found, and that it cannot be changed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from plantctl.audit import AuditAction, AuditTrail

pytestmark = [pytest.mark.anyio, pytest.mark.db]


async def test_record_stores_who_what_when_old_new_and_where(audit_db: str) -> None:
    trail = AuditTrail(audit_db)
    before = datetime.now(UTC)
    receipt = await trail.record("alice", AuditAction.SETPOINT, "AIC-101", {"value": 7.0, "unit": "pH"},
                                 {"value": 7.5, "unit": "pH"}, "10.0.0.7", {"reason": "discharge permit trend"})
    after = datetime.now(UTC)
    e = receipt.entry
    assert e is not None and not receipt.queued and e.occurred == receipt.occurred
    assert (e.actor, e.action, e.target, e.source_address) == ("alice", "setpoint", "AIC-101", "10.0.0.7")
    assert (e.old, e.new) == ({"value": 7.0, "unit": "pH"}, {"value": 7.5, "unit": "pH"})
    assert e.detail == {"reason": "discharge permit trend"}
    assert before - timedelta(seconds=1) <= e.ts <= after + timedelta(seconds=1)
    assert e.ts.tzinfo is not None


async def test_the_server_clock_stamps_entries_not_the_caller(audit_db: str) -> None:
    async with await psycopg.AsyncConnection.connect(audit_db, autocommit=True) as conn:
        await conn.execute("INSERT INTO audit_log (ts, actor, action) VALUES ('2000-01-01Z', 'mallory', 'login')")
        cur = await conn.execute("SELECT ts FROM audit_log WHERE actor = 'mallory'")
        row = await cur.fetchone()
    assert row is not None and row[0] > datetime(2026, 1, 1, tzinfo=UTC)


REFUSED = [
    "UPDATE audit_log SET new_value = '\"8.0\"'",
    "UPDATE audit_log SET actor = 'bob' WHERE false",  # refused even when it would touch no row
    "DELETE FROM audit_log",
    "DELETE FROM audit_log WHERE actor = 'alice'",
    "TRUNCATE audit_log",
]


async def test_the_app_role_cannot_change_or_remove_entries(audit_db: str) -> None:
    trail = AuditTrail(audit_db)
    await trail.record("alice", "mode", "AIC-101", "MAN", "AUTO", "10.0.0.7")
    async with await psycopg.AsyncConnection.connect(audit_db, autocommit=True) as conn:
        cur = await conn.execute("SELECT current_user, (SELECT tableowner FROM pg_tables "
                                 "WHERE tablename = 'audit_log')")
        assert await cur.fetchone() == ("plantctl", "plantctl")  # the app role, and it owns the table
        for statement in REFUSED:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                await conn.execute(statement)
    page = await trail.query()
    assert [(e.actor, e.old, e.new) for e in page.entries] == [("alice", "MAN", "AUTO")]


async def test_query_filters_by_time_actor_action_and_target(audit_db: str) -> None:
    trail = AuditTrail(audit_db)
    await trail.record("alice", "login", "", source_address="10.0.0.7")
    await trail.record("mallory", "login_failed", "", source_address="203.0.113.9", detail={"user": "admin"})
    mark = datetime.now(UTC)
    await asyncio.sleep(0.01)
    await trail.record("alice", "ack", "LIT-101.HH", "UNACK", "ACKED", "10.0.0.7", {"comment": "weir checked"})
    await trail.record("bob", "shelve", "AIT-101.H", "NORM", "SHLVD", "10.0.0.8", {"reason": "probe swap"})
    await trail.record("alice", "manual_output", "P-201", {"value": 20, "unit": "%"}, {"value": 35, "unit": "%"},
                       "10.0.0.7")

    async def actions(**kw: object) -> list[tuple[str, str]]:
        page = await trail.query(**kw)  # type: ignore[arg-type]
        return [(e.actor, e.action) for e in page.entries]

    assert await actions(actor="alice") == [("alice", "manual_output"), ("alice", "ack"), ("alice", "login")]
    assert await actions(action="login_failed") == [("mallory", "login_failed")]
    assert await actions(target="AIT-101.H") == [("bob", "shelve")]
    assert await actions(start=mark) == [("alice", "manual_output"), ("bob", "shelve"), ("alice", "ack")]
    assert await actions(end=mark) == [("mallory", "login_failed"), ("alice", "login")]
    assert await actions(start=mark, actor="alice", action=AuditAction.ACK) == [("alice", "ack")]


async def test_pages_walk_everything_once_newest_first(audit_db: str) -> None:
    async with AsyncConnectionPool(audit_db, open=False, kwargs={"connect_timeout": 5}) as pool:
        await pool.open(wait=True)
        trail = AuditTrail(pool=pool)
        for i in range(23):
            await trail.record("alice", "setpoint", "AIC-101", i, i + 1, "10.0.0.7")
        seen: list[int] = []
        cursor: str | None = None
        pages = 0
        while True:
            page = await trail.query(limit=10, cursor=cursor)
            pages += 1
            seen += [int(e.old) for e in page.entries]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    assert pages == 3
    assert seen == list(range(22, -1, -1))


async def test_bad_input_is_refused_with_a_clear_message(audit_db: str) -> None:
    trail = AuditTrail(audit_db)
    with pytest.raises(ValueError, match="unknown audit action 'reboot'"):
        await trail.record("alice", "reboot")
    with pytest.raises(ValueError, match="needs an actor"):
        await trail.record("  ", "login")
    with pytest.raises(ValueError, match="JSON-serialisable"):
        await trail.record("alice", "setpoint", "AIC-101", old=object())
    with pytest.raises(ValueError, match="timezone-aware"):
        await trail.query(start=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="page size"):
        await trail.query(limit=0)
    with pytest.raises(ValueError, match="bad audit page cursor"):
        await trail.query(cursor="not-a-cursor")
