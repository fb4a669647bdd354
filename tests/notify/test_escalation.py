"""Escalation in virtual time against the real database and a real SMTP server (STARTTLS, AUTH)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from plantctl.alarms.service import AlarmService
from plantctl.alarms.states import AlarmState
from plantctl.notify.service import Notifier
from plantctl.samples import Sample

from .conftest import NIGHT, Clock, plant
from .servers import SmtpServer

pytestmark = [pytest.mark.anyio, pytest.mark.db]


class Setup:
    def __init__(self, alarms: AlarmService, notifier: Notifier, clock: Clock) -> None:
        self.alarms, self.notifier, self.clock = alarms, notifier, clock

    async def after(self, seconds: float) -> None:
        """Let virtual time pass in one-second passes (the gather window is one second)."""
        end = self.clock.now + timedelta(seconds=seconds)
        while self.clock.now < end:
            self.clock.advance(min(1.0, (end - self.clock.now).total_seconds()))
            await self.notifier.run_once()

    def raise_ph(self, value: float = 9.6) -> None:
        self.alarms.submit([Sample("AIT-101", self.clock.now, value)])


@pytest.fixture
async def setup(notify_db: str, smtp: SmtpServer, certificate: tuple[Path, Path]) -> AsyncIterator[Setup]:
    clock = Clock(NIGHT)
    cfg = plant(smtp.port, certificate[0])
    alarms = AlarmService(cfg, notify_db, clock=clock, tick_period_s=3600)
    await alarms.start()
    notifier = Notifier.for_plant(cfg, notify_db, alarms, clock=clock)
    assert notifier is not None
    yield Setup(alarms, notifier, clock)
    await notifier.stop()
    await alarms.stop()


def recipients(smtp: SmtpServer) -> list[str]:
    return [r.rcpt_tos[0] for r in smtp.received]


async def test_on_call_is_paged_then_backup_then_the_group_until_acknowledged(setup: Setup, smtp: SmtpServer) -> None:
    setup.raise_ph()
    await setup.notifier.run_once()
    assert smtp.received == []  # the gather window (1 s) has not passed
    await setup.after(1)
    assert recipients(smtp) == ["anna@plant.example"]
    mail = smtp.received[0]
    assert mail.tls and mail.authenticated_as == "plantctl"
    assert mail.mail_from == "plantctl@plant.example"
    m = mail.message
    assert m["Subject"] == "[Neutralisation] P1 AIT-101.HH: Discharge pH above permit"
    assert m["To"] == "anna@plant.example" and m["Auto-Submitted"] == "auto-generated"
    assert m["X-Plantctl-Alarms"] == "AIT-101.HH" and m["X-Plantctl-Kind"] == "page"
    body = m.get_content()
    assert "P1 AIT-101.HH: Discharge pH above permit at 9.6 pH (since Mon 01:00 CET)" in body
    assert re.search(r"Acknowledge AIT-101.HH: http://127.0.0.1:9/notify/ack/[A-Za-z0-9_\-]{40,}\r?\n", body)

    await setup.after(598)
    assert recipients(smtp) == ["anna@plant.example"]  # still within anna's 10 minutes
    await setup.after(3)
    assert recipients(smtp) == ["anna@plant.example", "ben@plant.example"]
    await setup.after(601)
    assert recipients(smtp)[2:] == ["carla@plant.example"]

    await setup.alarms.acknowledge(["AIT-101.HH"], "carla", "on my way")
    await setup.after(3600)
    assert len(smtp.received) == 3  # acknowledged: paging stopped
    async with await psycopg.AsyncConnection.connect(setup.notifier._url) as conn:
        cur = await conn.execute("SELECT notified, close_reason, acked_by, acked_via, step FROM notify_incident")
        assert await cur.fetchall() == [(["anna", "ben", "carla"], "ack", "carla", "panel", 3)]


async def test_return_to_normal_stops_escalation(setup: Setup, smtp: SmtpServer) -> None:
    setup.raise_ph()
    await setup.after(2)
    setup.raise_ph(7.0)
    await setup.after(1300)
    assert recipients(smtp) == ["anna@plant.example"]
    assert setup.alarms.engine.status("AIT-101.HH").state is AlarmState.RTNUN


@pytest.mark.parametrize("mask", ["shelve", "out_of_service"])
async def test_shelved_and_out_of_service_alarms_do_not_page(setup: Setup, smtp: SmtpServer, mask: str) -> None:
    if mask == "shelve":
        await setup.alarms.shelve("AIT-101.HH", "anna", "probe being recalibrated", 3600)
    else:
        await setup.alarms.remove_from_service("AIT-101.HH", "anna", "analyser replaced")
    setup.raise_ph()
    await setup.after(1300)
    assert smtp.received == []


async def test_shelving_an_alarm_being_paged_stops_its_escalation(setup: Setup, smtp: SmtpServer) -> None:
    setup.raise_ph()
    await setup.after(2)
    await setup.alarms.shelve("AIT-101.HH", "anna", "known: dosing pump in maintenance")
    await setup.after(1300)
    assert recipients(smtp) == ["anna@plant.example"]


async def test_the_rotation_hands_over_at_local_time(setup: Setup, smtp: SmtpServer) -> None:
    setup.clock.now = NIGHT + timedelta(hours=7)  # 08:00 in Berlin: ben's week starts
    setup.raise_ph()
    await setup.after(2)
    assert recipients(smtp) == ["ben@plant.example"]


async def test_smtp_down_ten_minutes_loses_nothing_and_escalates(setup: Setup, smtp: SmtpServer) -> None:
    smtp.stop()
    setup.raise_ph()
    await setup.after(130)  # anna's page cannot be sent; after escalate_after_s (120 s) ben is paged at once
    assert setup.notifier.stats.channels["email"].escalated >= 1
    assert "email" in setup.notifier.failing_channels()
    # nobody has another channel: the channel's alarm stands in the alarm list, unpaged (no email about email)
    assert setup.alarms.engine.status("SYS.NOTIFY.EMAIL.FAILING").state is AlarmState.UNACK
    async with await psycopg.AsyncConnection.connect(setup.notifier._url) as conn:
        cur = await conn.execute("SELECT recipient FROM notify_message WHERE status = 'pending' ORDER BY id")
        assert [r[0] for r in await cur.fetchall()] == ["anna", "ben"]
    await setup.after(470)  # ten minutes down in all
    smtp.start()
    await setup.after(65)  # the next retry (backoff at most 60 s)
    assert sorted(recipients(smtp)) == ["anna@plant.example", "ben@plant.example", "carla@plant.example"]
    assert setup.notifier.failing_channels() == {}
    assert setup.alarms.engine.status("SYS.NOTIFY.EMAIL.FAILING").state is AlarmState.RTNUN
    async with await psycopg.AsyncConnection.connect(setup.notifier._url) as conn:
        cur = await conn.execute("SELECT status, count(*) FROM notify_message GROUP BY status")
        assert await cur.fetchall() == [("sent", 3)]
