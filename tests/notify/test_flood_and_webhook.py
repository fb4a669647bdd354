"""A 1,000-alarm flood gives each recipient a digest, not 1,000 messages; webhooks are signed and retried."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from plantctl.alarms.service import AlarmService
from plantctl.config.models import PlantConfig
from plantctl.notify.service import Notifier
from plantctl.plantfile import plant_config
from plantctl.runtime.assemble import service_plant
from plantctl.samples import Sample

from .conftest import NIGHT, Clock, plant_file
from .servers import SmtpServer, WebhookReceiver

pytestmark = [pytest.mark.anyio, pytest.mark.db]

FLOOD = 1000


def flood_plant(base: PlantConfig) -> PlantConfig:
    """The test plant plus one level with 1,000 high alarms at rising limits (a level rising through them)."""
    data = base.model_dump(mode="json", exclude_none=True)
    data["tags"].append({"name": "LIT-900", "unit": "%", "range": {"low": 0, "high": 100}, "source": "PLC-1",
                         "modbus": {"table": "input_register", "address": 900}})
    data["alarms"] += [{"name": f"LIT-900.H{i:04d}", "tag": "LIT-900", "type": "H", "limit": 0.05 + i * 0.0999,
                        "priority": 3} for i in range(FLOOD)]
    return service_plant(plant_config(data))


@pytest.fixture
async def flood(notify_db: str, smtp: SmtpServer,
                certificate: tuple[Path, Path]) -> AsyncIterator[tuple[AlarmService, Notifier, Clock]]:
    clock = Clock(NIGHT)
    cfg = flood_plant(plant_file(smtp.port, certificate[0]))
    alarms = AlarmService(cfg, notify_db, clock=clock, tick_period_s=3600)
    await alarms.start()
    notifier = Notifier.for_plant(cfg, notify_db, alarms, clock=clock)
    assert notifier is not None
    yield alarms, notifier, clock
    await notifier.stop()
    await alarms.stop()


async def test_a_thousand_alarms_in_a_minute_give_one_digest(flood: tuple[AlarmService, Notifier, Clock],
                                                             smtp: SmtpServer) -> None:
    alarms, notifier, clock = flood
    for tenth in range(600):  # the level rises through every limit in one minute
        clock.advance(0.1)
        alarms.submit([Sample("LIT-900", clock.now, (tenth + 1) / 6.0)])
        if tenth == 300:
            alarms.submit([Sample("AIT-101", clock.now, 9.8)])  # an urgent alarm in the middle of the flood
        if tenth % 10 == 9:
            await notifier.run_once()
    assert len([s for s in alarms.engine.statuses() if s.state.value == "UNACK"]) == FLOOD + 1
    for _ in range(200):  # 200 s more, still inside the 300 s hold after the digest
        clock.advance(1)
        await notifier.run_once()
    assert [r.rcpt_tos for r in smtp.received] == [["anna@plant.example"]]
    first = smtp.received[0].message
    assert first["X-Plantctl-Kind"] == "digest" and first["Subject"].startswith("[Neutralisation] Alarm flood: ")
    assert "… and" in first.get_content() and "/notify/ack/" not in first.get_content()
    n_first = int(first["Subject"].split(": ")[1].split()[0])
    unacked = int(first.get_content().split("Unacknowledged in the plant now: ")[1].split(".")[0])
    assert n_first <= unacked <= FLOOD + 1  # the digest tells how big the flood has become

    for _ in range(110):
        clock.advance(1)
        await notifier.run_once()
    assert [r.rcpt_tos[0] for r in smtp.received] == ["anna@plant.example"] * 2
    second = smtp.received[1].message
    text = second.get_content()
    listed = text.splitlines()[1]
    assert listed.startswith("- P1 AIT-101.HH"), "the worst alarm comes first"
    n_second = int(second["Subject"].split(": ")[1].split()[0])
    assert n_first + n_second == FLOOD + 1


async def test_webhook_is_signed_and_retried(notify_db: str, smtp: SmtpServer, certificate: tuple[Path, Path],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_HOOK_KEY", "hook-signing-key")
    hook = WebhookReceiver(b"hook-signing-key", fail_first=1).start()
    try:
        base = plant_file(smtp.port, certificate[0])
        n: dict[str, Any] = base.notifications.model_dump(mode="json", exclude_none=True)  # type: ignore[union-attr]
        n["people"][0] = {"name": "anna", "webhook": hook.url}
        n["channels"]["webhook"] = {"secret_env": "TEST_HOOK_KEY"}
        cfg = service_plant(plant_config({**base.model_dump(mode="json", exclude_none=True), "notifications": n}))
        clock = Clock(NIGHT)
        alarms = AlarmService(cfg, notify_db, clock=clock, tick_period_s=3600)
        await alarms.start()
        notifier = Notifier.for_plant(cfg, notify_db, alarms, clock=clock)
        assert notifier is not None
        try:
            alarms.submit([Sample("AIT-101", clock.now, 9.4)])
            await notifier.run_once()
            clock.advance(1.0)
            await notifier.run_once()
            assert len(hook.hooks) == 1 and hook.hooks[0].valid  # signed right, answered 503: retried later
            clock.advance(4)
            await notifier.run_once()
            assert len(hook.hooks) == 1  # backoff: 5 s
            clock.advance(1.1)
            await notifier.run_once()
            assert len(hook.hooks) == 2 and hook.hooks[1].valid
            payload = hook.json(1)
            assert payload["kind"] == "page" and payload["recipient"] == "anna"
            assert payload["alarms"] == ["AIT-101.HH"]
            assert payload["ack_links"]["AIT-101.HH"].startswith("http://127.0.0.1:9/notify/ack/")
            assert hook.hooks[0].headers["Idempotency-Key"] == hook.hooks[1].headers["Idempotency-Key"]
            assert notifier.stats.messages_sent == 1
        finally:
            await notifier.stop()
            await alarms.stop()
    finally:
        hook.stop()


async def test_a_forged_signature_is_refused_by_the_receiver(monkeypatch: pytest.MonkeyPatch) -> None:
    """The receiver used above really checks: a message signed with another key is rejected."""
    from plantctl.config.notifications import WebhookConfig
    from plantctl.notify.channels import DeliveryError, Outgoing, WebhookChannel

    hook = WebhookReceiver(b"the-right-key").start()
    try:
        monkeypatch.setenv("WRONG_KEY", "a-wrong-key")
        with pytest.raises(DeliveryError, match="HTTP 401"):
            await WebhookChannel(WebhookConfig(secret_env="WRONG_KEY")).send(
                Outgoing(1, "anna", hook.url, "page", "s", "b"))
        assert not hook.hooks[0].valid
    finally:
        hook.stop()




async def test_apprise_urls_deliver_through_apprise() -> None:
    """apprise's json:// service posting to a real HTTP server on loopback stands for the chat/push services."""
    from plantctl.notify.channels import AppriseChannel, DeliveryError, Outgoing

    receiver = WebhookReceiver(None).start()
    try:
        url = receiver.url.replace("http://", "json://")
        await AppriseChannel().send(Outgoing(7, "anna", url, "page", "[Plant] P1 AIT-101.HH", "pH high",
                                             ("AIT-101.HH",), {"AIT-101.HH": "http://x/notify/ack/t"}))
        assert len(receiver.hooks) == 1
        got = receiver.json(0)
        assert got["title"] == "[Plant] P1 AIT-101.HH"
        assert "pH high" in got["message"] and "Acknowledge AIT-101.HH: http://x/notify/ack/t" in got["message"]
        with pytest.raises(DeliveryError, match="not one apprise understands"):
            await AppriseChannel().send(Outgoing(8, "anna", "nosuchservice://x", "page", "s", "b"))
    finally:
        receiver.stop()
    with pytest.raises(DeliveryError, match="did not accept"):
        await AppriseChannel().send(Outgoing(9, "anna", url, "page", "s", "b"))  # the receiver is gone
