"""Restart, quiet hours, return to normal, the daily test, the rate limit and the heartbeat, on real servers."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from plantctl.alarms.service import AlarmService
from plantctl.alarms.states import AlarmState
from plantctl.config.models import PlantConfig
from plantctl.config.notifications import HeartbeatConfig
from plantctl.notify.heartbeat import Heartbeat
from plantctl.notify.service import Notifier
from plantctl.plantfile import plant_config
from plantctl.runtime.assemble import service_plant

from .conftest import NIGHT, Clock, plant, plant_file
from .servers import SmtpServer, WebhookReceiver
from .test_escalation import Setup, recipients

pytestmark = [pytest.mark.anyio, pytest.mark.db]


async def started(cfg: PlantConfig, url: str, clock: Clock) -> Setup:
    alarms = AlarmService(cfg, url, clock=clock, tick_period_s=3600)
    await alarms.start()
    notifier = Notifier.for_plant(cfg, url, alarms, clock=clock)
    assert notifier is not None
    return Setup(alarms, notifier, clock)


async def stopped(s: Setup) -> None:
    await s.notifier.stop()
    await s.alarms.journal.flush()
    await s.alarms.stop()


def with_pipelines(smtp: SmtpServer, cert: tuple[Path, Path], **extra: Any) -> PlantConfig:
    return plant(smtp.port, cert[0], pipelines=[
        {"name": "urgent", "priorities": [1, 2, 3], "notify_return_to_normal": True,
         "steps": [{"notify": ["rotation:primary"], "wait_s": 600}, {"notify": ["person:carla"], "wait_s": 600}]},
        {"name": "low", "priorities": [4], "steps": [{"notify": ["rotation:primary"], "wait_s": 3600}]}], **extra)


async def test_a_restart_during_an_outage_loses_no_page_and_sends_none_twice(
        notify_db: str, smtp: SmtpServer, certificate: tuple[Path, Path]) -> None:
    clock = Clock(NIGHT)
    cfg = plant(smtp.port, certificate[0])
    smtp.stop()
    s = await started(cfg, notify_db, clock)
    s.raise_ph()
    await s.after(5)
    await stopped(s)  # the service stops with anna's page undelivered in the outbox
    s = await started(cfg, notify_db, clock)
    try:
        smtp.start()
        await s.after(20)
        assert recipients(smtp) == ["anna@plant.example"]
        async with await psycopg.AsyncConnection.connect(notify_db) as conn:
            cur = await conn.execute("SELECT count(*) FROM notify_incident")
            assert await cur.fetchone() == (1,)  # the restored UNACK alarm kept its incident, not a second one
    finally:
        await stopped(s)


async def test_quiet_hours_hold_a_low_priority_page_until_morning(
        notify_db: str, smtp: SmtpServer, certificate: tuple[Path, Path]) -> None:
    clock = Clock(NIGHT)  # 01:00 local
    s = await started(with_pipelines(smtp, certificate, quiet_hours={"start": "22:00", "end": "06:00",
                                                                     "priorities": [4]}), notify_db, clock)
    try:
        s.raise_ph(4.0)
        await s.after(60)
        assert smtp.received == []
        clock.now = NIGHT + timedelta(hours=5) - timedelta(seconds=2)  # 05:59:58 local
        await s.after(4)
        assert recipients(smtp) == ["anna@plant.example"]
        assert smtp.received[0].message["Subject"].startswith("[Neutralisation] P4 AIT-101.LL")
    finally:
        await stopped(s)


async def test_return_to_normal_is_told_to_those_paged(
        notify_db: str, smtp: SmtpServer, certificate: tuple[Path, Path]) -> None:
    s = await started(with_pipelines(smtp, certificate), notify_db, Clock(NIGHT))
    try:
        s.raise_ph()
        await s.after(2)
        s.raise_ph(7.1)
        await s.after(2)
        assert recipients(smtp) == ["anna@plant.example"] * 2
        assert smtp.received[1].message["Subject"] == "[Neutralisation] AIT-101.HH returned to normal"
    finally:
        await stopped(s)


async def test_the_daily_test_message_goes_once_a_day(
        notify_db: str, smtp: SmtpServer, certificate: tuple[Path, Path]) -> None:
    clock = Clock(NIGHT + timedelta(hours=7, minutes=59))  # 08:59 local
    s = await started(plant(smtp.port, certificate[0], test_message={"at": "09:00", "people": ["anna", "ben"]}),
                      notify_db, clock)
    try:
        await s.after(30)
        assert smtp.received == []
        await s.after(60)
        assert sorted(recipients(smtp)) == ["anna@plant.example", "ben@plant.example"]
        assert smtp.received[0].message["X-Plantctl-Kind"] == "test"
        await s.after(120)
        assert len(smtp.received) == 2
        clock.advance(86400)
        await s.after(2)
        assert len(smtp.received) == 4
    finally:
        await stopped(s)


async def test_the_rate_limit_holds_pages_and_sends_them_together(
        notify_db: str, smtp: SmtpServer, certificate: tuple[Path, Path]) -> None:
    from plantctl.samples import Sample
    s = await started(plant(smtp.port, certificate[0], rate_limit={"messages": 2, "per_s": 300}),
                      notify_db, Clock(NIGHT))
    try:
        for i in (1, 2, 3):
            s.alarms.submit([Sample(f"LIT-{i}", s.clock.now, 95.0)])
            await s.after(10)
        assert recipients(smtp) == ["anna@plant.example"] * 2  # the third waits for the window
        await s.after(285)  # the window (300 s) from the first page (t=2 s) has passed; escalations (600 s) not
        assert len(smtp.received) == 3
        assert smtp.received[2].message["X-Plantctl-Alarms"] == "LIT-3.H"
    finally:
        await stopped(s)


async def test_the_heartbeat_reaches_the_monitor_and_reports_failure() -> None:
    monitor = WebhookReceiver(b"unused")
    hits: list[str] = []
    two_hits = threading.Event()

    class Get(monitor.server.RequestHandlerClass):  # type: ignore[name-defined,misc]
        def do_GET(self) -> None:
            hits.append(self.path)
            if len(hits) >= 2:
                two_hits.set()
            self.send_response(200)
            self.end_headers()

    monitor.server.RequestHandlerClass = Get
    monitor.start()
    try:
        hb = Heartbeat(HeartbeatConfig(url=monitor.url.replace("/hook", "/ping/plant-1"), period_s=1))
        task = asyncio.create_task(hb.run())
        t0 = time.monotonic()
        assert await asyncio.to_thread(two_hits.wait, 20)
        elapsed = time.monotonic() - t0
        task.cancel()
        assert hits[:2] == ["/ping/plant-1"] * 2 and hb.stats.sent >= 1 and hb.stats.last_ok is not None
        assert elapsed >= 0.95, "the second beat waits for the period (1 s)"
    finally:
        monitor.stop()
    assert not await hb.beat()  # the monitor is gone: counted and kept for the status page
    assert hb.stats.failed == 1 and "ConnectError" in hb.stats.last_error


CHANNEL_ALARM = "SYS.NOTIFY.EMAIL.FAILING"


async def test_a_failing_channel_raises_its_alarm_paged_by_the_other_channels_until_acknowledged(
        notify_db: str, smtp: SmtpServer, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_HOOK_KEY", "hook-key")
    hook = WebhookReceiver(b"hook-key").start()
    base = plant_file(smtp.port, certificate[0])
    assert base.notifications is not None
    n = base.notifications.model_dump(mode="json", exclude_none=True)
    n["people"][2]["webhook"] = hook.url
    n["channels"]["webhook"] = {"secret_env": "TEST_HOOK_KEY"}
    n["channel_failure_notify"] = ["group:shift-leads"]
    cfg = service_plant(plant_config({**base.model_dump(mode="json", exclude_none=True), "notifications": n}))
    smtp.stop()
    s = await started(cfg, notify_db, Clock(NIGHT))
    try:
        s.raise_ph()
        await s.after(119)  # anna's page fails from t=2 s; the alarm's on-delay is escalate_after_s (120 s)
        assert s.alarms.engine.status(CHANNEL_ALARM).state is AlarmState.NORM and hook.hooks == []
        await s.after(10)
        status = s.alarms.engine.status(CHANNEL_ALARM)
        assert status.state is AlarmState.UNACK and status.priority == 2 and status.tag == "SYS.NOTIFY.EMAIL"
        assert len(hook.hooks) == 1 and hook.hooks[0].valid
        page = hook.json(0)
        assert (page["kind"], page["recipient"], page["alarms"]) == ("page", "carla", [CHANNEL_ALARM])
        assert page["subject"].startswith("[Neutralisation] P2 SYS.NOTIFY.EMAIL.FAILING: email notifications "
                                          "failing: the on-call will not be reached by email; check the mail "
                                          f"server 127.0.0.1:{smtp.port}"), page["subject"]
        assert "(last error: " in page["text"]
        await s.after(200)  # carla's own AIT-101 page comes by webhook too; the channel alarm is not paged again
        assert [hook.json(i)["alarms"] for i in range(len(hook.hooks))].count([CHANNEL_ALARM]) == 1
        async with await psycopg.AsyncConnection.connect(notify_db) as conn:
            cur = await conn.execute("SELECT channel, count(*) FROM notify_message WHERE %s = ANY(alarms) "
                                     "GROUP BY channel", (CHANNEL_ALARM,))
            assert await cur.fetchall() == [("webhook", 1)]  # never through the channel that fails

        token = page["ack_links"][CHANNEL_ALARM].rsplit("/", 1)[1]
        outcome = await s.notifier.acknowledge_link(token, "127.0.0.1")
        assert outcome.refused is None and outcome.channel == "webhook"
        assert s.alarms.engine.status(CHANNEL_ALARM).state is AlarmState.ACKED
        smtp.start()
        await s.after(65)  # the next retry goes through: the point returns to 0, the alarm to normal
        assert s.alarms.engine.status(CHANNEL_ALARM).state is AlarmState.NORM
        assert s.notifier.points.value("SYS.NOTIFY.EMAIL") == 0.0 and s.notifier.failing_channels() == {}
        await s.alarms.journal.flush()
        async with await psycopg.AsyncConnection.connect(notify_db) as conn:
            cur = await conn.execute("SELECT event, user_name, comment FROM alarm_journal WHERE alarm = %s "
                                     "ORDER BY id", (CHANNEL_ALARM,))
            assert await cur.fetchall() == [("activate", "", ""),
                                            ("ack", "carla (on call)", "acknowledged from the webhook notification"),
                                            ("clear", "", "")]
    finally:
        await stopped(s)
        hook.stop()
