"""Put one plant's service together: historian, alarms, loops and sources around one sample bus."""

from __future__ import annotations

from pathlib import Path

from control.group import LoopGroup
from control.runner import LoopRunner
from plantctl.alarms.journal import AlarmJournal
from plantctl.alarms.service import AlarmService
from plantctl.audit.audit import AuditTrail
from plantctl.config.models import PlantConfig
from plantctl.db.pool import PoolLifecycle, service_pool
from plantctl.historian.service import Historian
from plantctl.notify.service import Notifier
from plantctl.runtime.control_journal import ControlJournal
from plantctl.runtime.service import PlantRuntime
from plantctl.uplink.edge import SparkplugEdge


def build_service(config: PlantConfig, database_url: str, state_dir: Path) -> PlantRuntime:
    """Loop outputs reach the PLC only through runtime.write; every event and state goes to the database."""
    pool = service_pool(database_url)  # the service's one pool: historian reads, restore, audit
    historian = Historian(database_url, config.historian, config.tags, state_dir=state_dir, pool=pool)
    runtime = PlantRuntime(config, state_dir=state_dir, historian=historian)
    runtime.add_component("database-pool", PoolLifecycle(pool))  # stopped after every user of it
    control_journal = ControlJournal(database_url, state_dir=state_dir, pool=pool)
    group = LoopGroup(config, events=control_journal)
    runner = LoopRunner(group, runtime.write, control_journal, control_journal)

    def setpoint(loop: str) -> float | None:
        lp = group.loops.get(loop)
        return None if lp is None else lp.setpoint

    audit = AuditTrail(pool=pool, queue_dir=state_dir / "audit-queue")  # durable while the database is away
    alarm_service = AlarmService(config, database_url, setpoint, audit=audit, pool=pool,
                                 journal=AlarmJournal(database_url, queue_dir=state_dir / "alarm-journal"))
    runtime.add_component("audit", audit)
    runtime.add_component("control-journal", control_journal)
    runtime.add_component("alarms", alarm_service, tap=alarm_service.submit)
    runtime.add_component("loops", runner, tap=runner.tap)
    runtime.notifier = Notifier.for_plant(config, database_url, alarm_service)
    if runtime.notifier is not None:
        runtime.add_component("notifier", runtime.notifier)
    if config.uplink is not None:  # a tap that only appends: site control never waits on the fleet link
        uplink = SparkplugEdge(config.uplink, config.tags, state_dir)
        runtime.add_component("uplink", uplink, tap=uplink.submit)
    runtime.alarms = alarm_service.engine
    runtime.loops = group.loops
    return runtime
