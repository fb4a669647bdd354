"""Put one plant's service together — the one assembly `plantctl run` and every in-process test use.

Historian, alarms (audited), loops, control journal and sources around one sample bus, the API over them,
and on request the simulated PLC. Callers override where things listen and where state lives, nothing else.
The runtime (and the simulator) start and stop inside the API's lifespan: see api.app.create_app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI

from api.app import create_app
from api.settings import ApiSettings
from control import points as control_points
from control.group import LoopGroup
from control.runner import LoopRunner
from plantctl.alarms import diagnostics as range_alarms
from plantctl.alarms.journal import AlarmJournal
from plantctl.alarms.service import AlarmService
from plantctl.audit.audit import AuditTrail
from plantctl.config.models import PlantConfig
from plantctl.db.pool import PoolLifecycle, service_pool
from plantctl.historian.service import Historian
from plantctl.notify import points as notify_points
from plantctl.notify.service import Notifier
from plantctl.points import Declare, with_system_points
from plantctl.runtime.control_journal import ControlJournal
from plantctl.runtime.service import PlantRuntime
from plantctl.samples import utcnow
from plantctl.uplink.edge import SparkplugEdge

if TYPE_CHECKING:
    from sim.facade.runner import SimulatedPlc


SYSTEM_POINTS: tuple[Declare, ...] = (notify_points.declare, control_points.declare, range_alarms.declare)
"""Every subsystem that publishes system points: its declaration is added to the plant before anything is built."""


def service_plant(config: PlantConfig) -> PlantConfig:
    """The plant file's tags and alarms plus every subsystem's system points (SYS.…): what the service runs."""
    return with_system_points(config, [declare(config) for declare in SYSTEM_POINTS])


@dataclass(frozen=True, slots=True)
class Simulation:
    """`--simulate`: the built-in simulated PLC serving the plant file's sources (ports as the file says)."""

    plant_file: Path
    speed: float = 1.0
    scenario: Path | None = None
    state_dir: Path | None = None  # the simulator's certificates and shelf; default: its own state directory
    shelf_file: Path | None = None


@dataclass(frozen=True, slots=True)
class PlantService:
    """What was assembled: the ASGI app (whose lifespan runs everything) and the parts tests look at."""

    app: FastAPI
    runtime: PlantRuntime
    historian: Historian
    alarms: AlarmService
    loops: LoopGroup
    control_journal: ControlJournal
    audit: AuditTrail
    simulator: SimulatedPlc | None


def build_service(config: PlantConfig, *, database_url: str, state_dir: Path, settings: ApiSettings | None = None,
                  simulation: Simulation | None = None, plant_link: bool = True,
                  clock: Callable[[], datetime] = utcnow) -> PlantService:
    """Loop outputs reach the PLC only through the write gate; every event and state goes to the database.

    plant_link=False builds no sources (tests that publish samples into the bus themselves); everything
    else — historian, alarms with audit, running loops, control journal, API — is what production builds.
    `clock` is the alarms' and notifications' time (a test moves it forward to let an acknowledge link expire).
    """
    config = service_plant(config)  # system points are tags and alarms like the plant file's from here on
    settings = settings if settings is not None else ApiSettings(database_url=database_url)
    pool = service_pool(database_url)  # the service's one pool: historian reads, restore, audit
    historian = Historian(database_url, config.historian, config.tags, state_dir=state_dir, pool=pool)
    runtime = PlantRuntime(config, state_dir=state_dir, historian=historian,
                           sources=None if plant_link else {})
    runtime.add_component("database-pool", PoolLifecycle(pool))  # stopped after every user of it
    plc = None
    if simulation is not None:
        from sim.facade.runner import SimulatedPlc  # only a simulating service loads the simulator (scipy)

        plc = SimulatedPlc(simulation.plant_file, speed=simulation.speed, scenario=simulation.scenario,
                           state_dir=simulation.state_dir, shelf_file=simulation.shelf_file)
        runtime.add_component("simulator", plc)  # listening before the sources connect, stopped after them
        runtime.simulator = plc
    control_journal = ControlJournal(database_url, state_dir=state_dir, pool=pool)
    group = LoopGroup(config, events=control_journal)
    runner = LoopRunner(group, runtime.gate.loop_writer(), control_journal, control_journal,
                        points=control_points.ControlPoints(runtime.bus.publish, config))

    def setpoint(loop: str) -> float | None:
        lp = group.loops.get(loop)
        return None if lp is None else lp.working_setpoint  # deviation from what the loop controls to now

    audit = AuditTrail(pool=pool, queue_dir=state_dir / "audit-queue")  # durable while the database is away
    alarm_service = AlarmService(config, database_url, setpoint, audit=audit, pool=pool, clock=clock,
                                 journal=AlarmJournal(database_url, queue_dir=state_dir / "alarm-journal"))
    runtime.add_component("audit", audit)
    runtime.add_component("control-journal", control_journal)
    runtime.add_component("alarms", alarm_service, tap=alarm_service.submit)
    runtime.add_component("loops", runner, tap=runner.tap)
    runtime.notifier = Notifier.for_plant(config, database_url, alarm_service, publish=runtime.bus.publish,
                                          clock=clock)
    if runtime.notifier is not None:
        runtime.add_component("notifier", runtime.notifier)
    if config.uplink is not None:  # a tap that only appends: site control never waits on the fleet link
        uplink = SparkplugEdge(config.uplink, config.tags, state_dir)
        runtime.add_component("uplink", uplink, tap=uplink.submit)
    runtime.alarms = alarm_service
    runtime.loops = group.loops
    runtime.audit = audit
    app = create_app(runtime, settings=settings, simulator=plc)
    return PlantService(app, runtime, historian, alarm_service, group, control_journal, audit, plc)
