"""The alarm service on the real database: timers, audited operator actions, and state across a restart."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from plantctl.alarms.journal import AlarmJournal, read_journal
from plantctl.alarms.service import AlarmService
from plantctl.alarms.states import AlarmState
from plantctl.audit import AuditTrail
from plantctl.plantfile import plant_config
from plantctl.samples import Sample

from .recorded import at

pytestmark = [pytest.mark.anyio, pytest.mark.db]

PLANT = plant_config({
    "plant": {"name": "test"},
    "sources": [{"kind": "modbus", "name": "PLC-1", "host": "127.0.0.1"}],
    "tags": [{"name": "AIT-101", "unit": "pH", "range": {"low": 0, "high": 14}, "source": "PLC-1",
              "modbus": {"table": "input_register", "address": 0}}],
    "alarms": [
        {"name": "AIT-101.HH", "tag": "AIT-101", "type": "HH", "limit": 9.0, "priority": 1, "on_delay_s": 5},
        {"name": "AIT-101.H", "tag": "AIT-101", "type": "H", "limit": 8.5, "priority": 3, "on_delay_s": 10},
    ],
})


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_actions_are_journaled_and_audited_and_survive_a_restart(alarm_db: str) -> None:
    clock = Clock(at(0))
    audit = AuditTrail(alarm_db)
    svc = AlarmService(PLANT, alarm_db, audit=audit, clock=clock, tick_period_s=3600)
    await svc.start()
    svc.submit([Sample("AIT-101", at(0), 9.5)])
    clock.now = at(6)
    svc.engine.tick(clock.now)  # the on-delay of HH (5 s) has run out, H's (10 s) has not
    assert svc.engine.status("AIT-101.HH").state is AlarmState.UNACK
    result = await svc.acknowledge(["AIT-101.HH", "AIT-101.H"], "alice", "dosing checked", "10.0.0.7")
    assert [t.alarm for t in result.done] == ["AIT-101.HH"] and list(result.refused) == ["AIT-101.H"]
    await svc.shelve("AIT-101.H", "bob", "probe drift, recalibration booked", 600, "10.0.0.8")
    await svc.journal.flush()
    await svc.stop()

    entries = (await audit.query()).entries
    assert [(e.actor, e.action, e.target, e.old, e.new, e.source_address) for e in entries] == [
        ("bob", "shelve", "AIT-101.H", {"state": "NORM"},
         {"state": "SHLVD", "duration_s": 600, "kind": "timed", "until": (at(6) + timedelta(seconds=600)).isoformat()},
         "10.0.0.8"),
        ("alice", "ack", "AIT-101.HH", {"state": "UNACK"}, {"state": "ACKED"}, "10.0.0.7"),
    ]
    assert entries[0].new["until"] == (at(6) + timedelta(seconds=600)).isoformat()

    clock.now = at(700)  # back after the shelve's expiry
    again = AlarmService(PLANT, alarm_db, audit=audit, clock=clock, tick_period_s=3600)
    await again.start()
    assert again.engine.status("AIT-101.HH").state is AlarmState.ACKED
    assert again.engine.status("AIT-101.H").state is AlarmState.NORM  # the timed shelve expired while down
    await again.journal.flush()
    await again.stop()
    rows = await read_journal(alarm_db, at(0), at(800))
    assert [(r.alarm, r.event, r.ts) for r in rows] == [
        ("AIT-101.HH", "activate", at(5)),
        ("AIT-101.HH", "ack", at(6)),
        ("AIT-101.H", "shelve", at(6)),
        ("AIT-101.H", "shelve_expired", at(606)),
    ]


async def test_alarms_run_when_the_database_is_down_at_start(alarm_db: str) -> None:
    down = alarm_db.rsplit("/", 1)[0] + "/no_such_database"
    clock = Clock(at(0))
    svc = AlarmService(PLANT, down, clock=clock, tick_period_s=3600,
                       journal=AlarmJournal(down, retry_max_delay_s=0.1, connect_timeout_s=1))
    await svc.start()
    assert svc.restore_error is not None and "no_such_database" in svc.restore_error
    svc.submit([Sample("AIT-101", at(0), 9.5)])
    clock.now = at(6)
    svc.engine.tick(clock.now)
    assert svc.engine.status("AIT-101.HH").state is AlarmState.UNACK
    await svc.stop(flush_timeout_s=0.5)
    assert svc.journal.queued == 1  # not written, and said so (logged at stop)
