"""Alarm-system KPIs from a journal whose every row is known, so each figure is counted by hand."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from typer.testing import CliRunner

from plantctl.alarms.health import alarm_health
from plantctl.alarms.journal import write_batch
from plantctl.alarms.report import report_alarms, report_alarms_command
from plantctl.alarms.states import AlarmRecord, Transition
from plantctl.db import LocalDatabase
from plantctl.historian.migrate import apply_migrations

pytestmark = [pytest.mark.anyio, pytest.mark.db]

START = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)
END = START + timedelta(hours=1)


def _m(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def _scenario() -> list[Transition]:
    a = AlarmRecord("LIT-101.H", 3)
    b = AlarmRecord("AIT-101.H", 2)
    c = AlarmRecord("CIT-101.H", 4)
    d = AlarmRecord("P-201.FAULT", 1)
    e = AlarmRecord("AIT-101.L", 3)
    out: list[Transition | None] = []
    # C: active since 26 h before the end, acknowledged the day before: standing and stale
    out += [c.set_condition(True, END - timedelta(hours=26)), c.acknowledge(END - timedelta(hours=25), "night")]
    # A: 12 activations 40 s apart in the first 10 minutes (a flood window), each clearing after 20 s
    for k in range(12):
        t = START + timedelta(seconds=40 * k)
        out += [a.set_condition(True, t), a.set_condition(False, t + timedelta(seconds=20))]
    # B: three activations within 30 s at 00:20 — chattering — then acknowledged
    for s in (0, 15, 30):
        t = _m(20) + timedelta(seconds=s)
        out += [b.set_condition(True, t), b.set_condition(False, t + timedelta(seconds=5))]
    out.append(b.acknowledge(_m(21), "alice", "pH probe cleaned"))
    # D: active from 00:30 to the end, unacknowledged
    out.append(d.set_condition(True, _m(30)))
    # E: active at 00:40, shelved at 00:41 for an hour
    out += [e.set_condition(True, _m(40)), e.shelve_alarm(_m(41), "bob", "buffer test", 3600)]
    # A again exactly at the end: outside [START, END)
    out.append(a.set_condition(True, END))
    return [t for t in out if t is not None]


async def _write(url: str) -> None:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await write_batch(conn, _scenario())


@pytest.fixture(scope="module")
def health_db(db_server: LocalDatabase) -> Iterator[str]:
    """One database holding the scenario, shared by this module's tests (they only read it)."""
    name = f"t_health_{uuid.uuid4().hex[:8]}"
    url = db_server.create_database(name)
    apply_migrations(url)
    asyncio.run(_write(url))
    yield url
    db_server.drop_database(name)


async def test_kpis_for_one_operator(health_db: str) -> None:
    with psycopg.connect(health_db) as conn:
        h = alarm_health(conn, START, END)
    assert h.annunciations == 17  # A 12 + B 3 + D 1 + E 1
    assert h.per_10min_avg == pytest.approx(17 / 6)
    assert h.per_10min_max == 12
    assert [(f.start, f.end, f.alarms) for f in h.flood_periods] == [(START, _m(10), 12)]
    assert h.flood_share == pytest.approx(1 / 6)
    assert [(t.alarm, t.count) for t in h.top] == [("LIT-101.H", 12), ("AIT-101.H", 3), ("AIT-101.L", 1),
                                                   ("P-201.FAULT", 1)]
    assert h.top[0].share == pytest.approx(12 / 17)
    assert [(c.alarm, c.episodes, c.first) for c in h.chattering] == [("AIT-101.H", 1, _m(20))]
    assert [(s.alarm, s.state, s.age) for s in h.standing] == [
        ("CIT-101.H", "ACKED", timedelta(hours=26)), ("P-201.FAULT", "UNACK", timedelta(minutes=30))]
    assert [s.alarm for s in h.stale] == ["CIT-101.H"]
    assert h.shelved == ["AIT-101.L"]
    assert h.by_priority == {1: 1, 2: 3, 3: 13}
    assert h.operator_actions == 2  # alice's ack and bob's shelve; the night shift's ack is before the period


async def test_two_operator_positions_halve_the_rate_and_end_the_flood(health_db: str) -> None:
    with psycopg.connect(health_db) as conn:
        h = alarm_health(conn, START, END, operators=2)
    assert h.per_10min_avg == pytest.approx(17 / 2 / 6)
    assert h.flood_periods == []


def test_bad_periods_are_refused_with_a_reason(health_db: str) -> None:
    with psycopg.connect(health_db) as conn:
        with pytest.raises(ValueError, match="not before"):
            alarm_health(conn, END, START)
        with pytest.raises(ValueError, match="timezone-aware"):
            alarm_health(conn, START.replace(tzinfo=None), END)


async def test_report_prints_the_figures(health_db: str) -> None:
    text = report_alarms(START, END, health_db)
    assert "Annunciated alarms:            17" in text
    assert "average 2.83" in text and "peak 12" in text
    assert "Flood periods (> 10 in 10 min): 1" in text
    assert "1. LIT-101.H" in text
    assert "Chattering (≥ 3 activations within a minute): 1" in text
    assert "Stale (active > 24 h): 1\n  CIT-101.H" in text
    assert "Shelved at the end of the period: 1\n  AIT-101.L" in text


async def test_command_reads_iso_times_and_refuses_bad_ones(health_db: str) -> None:
    import typer

    app = typer.Typer()
    app.command()(report_alarms_command)
    ok = CliRunner().invoke(app, ["--from", "2026-11-27T00:00:00Z", "--to", "2026-11-27T01:00", "--database-url",
                                  health_db])
    assert ok.exit_code == 0, ok.output
    assert "Annunciated alarms:            17" in ok.output
    bad = CliRunner().invoke(app, ["--from", "yesterday", "--to", "2026-11-27T01:00", "--database-url", health_db])
    assert bad.exit_code == 2
    assert "--from 'yesterday' is not an ISO 8601 time" in bad.output
