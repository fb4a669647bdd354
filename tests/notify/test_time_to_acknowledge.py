"""Time to acknowledge: in the alarm-health KPIs (from the journal) and for paged alarms (from incidents)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from plantctl.alarms.health import alarm_health
from plantctl.alarms.report import format_health
from plantctl.notify import report

from .conftest import NIGHT
from .servers import SmtpServer
from .test_delivery_rules import started, stopped
from .test_escalation import Setup

pytestmark = [pytest.mark.anyio, pytest.mark.db]


async def raise_and_ack(s: Setup, tag: str, alarm: str, after_s: float) -> None:
    from plantctl.samples import Sample
    s.alarms.submit([Sample(tag, s.clock.now, 99.0 if tag != "AIT-101" else 9.9)])
    await s.after(after_s)
    await s.alarms.acknowledge([alarm], "anna", "seen")
    await s.after(1)


async def test_time_to_acknowledge_in_the_kpis_and_per_priority(
        notify_db: str, smtp: SmtpServer, certificate: tuple[Path, Path]) -> None:
    from .conftest import Clock, plant
    s = await started(plant(smtp.port, certificate[0]), notify_db, Clock(NIGHT))
    try:
        await raise_and_ack(s, "LIT-1", "LIT-1.H", 30)   # P2, 30 s
        await raise_and_ack(s, "LIT-2", "LIT-2.H", 90)   # P2, 90 s
        await raise_and_ack(s, "AIT-101", "AIT-101.HH", 600)  # P1, 600 s (after the first page)
        await s.alarms.journal.flush()
    finally:
        await stopped(s)
    with psycopg.connect(notify_db) as conn:
        h = alarm_health(conn, NIGHT, NIGHT + timedelta(hours=1))
    assert h.acks == 3 and h.ack_median_s == pytest.approx(90) and h.ack_p90_s == pytest.approx(498)
    assert "Time to acknowledge:           median 90 s, 90 % within 498 s (3 acknowledgements)" in format_health(h)

    async with await psycopg.AsyncConnection.connect(notify_db) as aconn:
        rows = await report.time_to_acknowledge(aconn, NIGHT, NIGHT + timedelta(hours=1))
    assert [(r.priority, r.acknowledged, r.median_s, r.max_s) for r in rows] == [
        (None, 3, 90.0, 600.0), (1, 1, 600.0, 600.0), (2, 2, 60.0, 90.0)]
