"""The simulated PLC's test bench (engineer): instrument faults, pump trips and scenarios, each audited.

Mounted only when the service runs against the in-process simulator (`plantctl run --simulate`); a real
plant's API has no such endpoints at all.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from api.auth.deps import Ctx, Engineer
from api.context import client_ip
from api.errors import ApiProblem, problem_responses
from plantctl.audit import AuditAction
from sim.facade.runner import SimulatedPlc
from sim.model import PlantModel
from sim.scenario import Scenario, load_scenario

router = APIRouter(prefix="/api/v1/simulator", tags=["simulator"], responses=problem_responses(401, 403, 422))
WRITE_RESPONSES = problem_responses(404, 409)
AUDIT_ACTION = AuditAction.SIMULATOR

TagPath = Annotated[str, PathParam(max_length=64, examples=["AIT-101"])]


@dataclasses.dataclass(slots=True)
class RunningScenario:
    name: str
    description: str
    started_s: float
    scenario: Scenario


@dataclasses.dataclass(slots=True)
class SimulatorControl:
    """What the handlers need: the PLC, where scenario files live, and the scenario started from the panel."""

    plc: SimulatedPlc
    scenario_dir: Path | None
    running: RunningScenario | None = None

    @property
    def model(self) -> PlantModel:
        model = self.plc.model
        if not isinstance(model, PlantModel):
            raise ApiProblem(409, "not-the-plant-model", "Not the plant model",
                             "fault injection needs the example plant's process model (sim.model.PlantModel)")
        return model

    def scenario_files(self) -> dict[str, Path]:
        if self.scenario_dir is None or not self.scenario_dir.is_dir():
            return {}
        return {p.stem: p for p in sorted(self.scenario_dir.glob("*.yaml"))}


class SensorOut(BaseModel):
    tag: str
    fault: Literal["none", "stuck", "failed", "broken"]
    value: float = Field(description="what the PLC input card reads now, in the instrument's unit")
    status: Literal["GOOD", "UNCERTAIN", "FAILED"]


class PumpOut(BaseModel):
    name: str
    running: bool
    tripped: bool
    run_command: bool
    speed_setpoint_pct: float


class ScenarioOut(BaseModel):
    name: str
    description: str
    started_sim_s: float
    events_applied: int
    events_total: int


class SimulatorOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "sim_time_s": 3600.0, "sim_time": "2026-11-28T00:00:00Z", "speed": 1.0, "lag_s": 0.0,
        "servers": {"opcua": True, "modbus": True},
        "sensors": [{"tag": "AIT-101", "fault": "failed", "value": 0.0, "status": "FAILED"}],
        "pumps": [{"name": "P-201", "running": True, "tripped": False, "run_command": True,
                   "speed_setpoint_pct": 12.0}],
        "scenarios": ["normal-day", "upset-day"], "scenario": None}]})

    sim_time_s: float = Field(description="simulated seconds since the simulator started")
    sim_time: datetime = Field(description="simulated time as UTC")
    speed: float = Field(description="× real time")
    lag_s: float = Field(description="wall seconds the model is behind its pacing")
    servers: dict[str, bool] = Field(description="server → listening")
    sensors: list[SensorOut]
    pumps: list[PumpOut]
    scenarios: list[str] = Field(description="scenario files that can be run (beside the plant file)")
    scenario: ScenarioOut | None


class SensorActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"action": "fail"}]})
    action: Literal["fail", "stuck", "recover", "broken", "calibrate"] = Field(
        description="fail: transmitter failure (Bad_SensorFailure); stuck: frozen value still reported good; "
                    "recover: repaired and recalibrated; broken: cracked pH glass, reads near 7 and good; "
                    "calibrate: held uncertain for the calibration, then drift, offset and coating cleared")


class PumpActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"action": "trip"}]})
    action: Literal["trip", "reset"] = Field(description="trip: motor protection; reset: local reset at the MCC")


class ScenarioIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "upset-day"}]})
    name: str = Field(min_length=1, max_length=100)


def control(request: Request) -> SimulatorControl:
    sim = getattr(request.app.state, "simulator", None)
    if not isinstance(sim, SimulatorControl):
        raise ApiProblem(404, "no-simulator", "No simulator", "this service does not run against the simulator")
    return sim


def state_out(sim: SimulatorControl) -> SimulatorOut:
    model = sim.model
    readings = model.readings()
    sensors = [SensorOut.model_validate({"tag": tag, "fault": s.fault.value, "value": readings[tag].value,
                                         "status": readings[tag].status.name})
               for tag, s in model.sensors.items()]
    interlocked = model.watchdog_tripped
    pumps = [PumpOut(name=name, running=p.running(interlocked), tripped=p.tripped, run_command=p.run_cmd,
                     speed_setpoint_pct=p.sp_pct) for name, p in model.pumps.items()]
    running = None
    if sim.running is not None:
        events = sim.running.scenario.events
        done = sum(1 for e in events if e.at <= model.t_s + 1e-9)
        running = ScenarioOut(name=sim.running.name, description=sim.running.description,
                              started_sim_s=sim.running.started_s, events_applied=done, events_total=len(events))
    return SimulatorOut(sim_time_s=model.t_s, sim_time=sim.plc.core.sim_time_utc(),
                        speed=sim.plc.pacing.speed, lag_s=sim.plc.lag_s,
                        servers={"opcua": sim.plc.opcua.listening, "modbus": sim.plc.modbus.listening},
                        sensors=sensors, pumps=pumps, scenarios=sorted(sim.scenario_files()), scenario=running)


async def _audit(ctx: Ctx, request: Request, user: Engineer, target: str, old: object, new: object,
                 detail: dict[str, object]) -> None:
    await ctx.audit.record(user.username, AUDIT_ACTION, target, old=old, new=new, source_address=client_ip(request),
                           detail={**detail, "via": user.via})


@router.get("", summary="The simulated plant's faults, pumps and scenario (engineer)")
async def get_state(request: Request, _user: Engineer) -> SimulatorOut:
    return state_out(control(request))


@router.post("/sensors/{tag}", summary="Inject or clear an instrument fault (engineer, audited)",
             responses=WRITE_RESPONSES)
async def sensor_action(tag: TagPath, body: SensorActionIn, request: Request, ctx: Ctx,
                        user: Engineer) -> SimulatorOut:
    sim = control(request)
    sensor = sim.model.sensors.get(tag)
    if sensor is None:
        raise ApiProblem(404, "unknown-instrument", "Unknown instrument",
                         f"the simulator has no instrument {tag!r}; it has {', '.join(sim.model.sensors)}")
    old = sensor.fault.value
    {"fail": sensor.fail, "stuck": sensor.stick, "recover": sensor.recover, "broken": sensor.break_glass,
     "calibrate": sensor.calibrate}[body.action]()
    await sim.plc.publish()  # on the wire now, not at the next pacing tick
    await _audit(ctx, request, user, tag, {"fault": old}, {"fault": sensor.fault.value}, {"action": body.action})
    return state_out(sim)


@router.post("/pumps/{name}", summary="Trip a dosing pump or reset it locally (engineer, audited)",
             responses=WRITE_RESPONSES)
async def pump_action(name: TagPath, body: PumpActionIn, request: Request, ctx: Ctx, user: Engineer) -> SimulatorOut:
    sim = control(request)
    model = sim.model
    pump = model.pumps.get(name)
    if pump is None:
        raise ApiProblem(404, "unknown-pump", "Unknown pump",
                         f"the simulator has no pump {name!r}; it has {', '.join(model.pumps)}")
    old = pump.tripped
    if body.action == "trip":
        model.trip_pump(name)
    else:
        model.reset_pump(name)
    await sim.plc.publish()
    await _audit(ctx, request, user, name, {"tripped": old}, {"tripped": pump.tripped}, {"action": body.action})
    return state_out(sim)


@router.post("/scenario", summary="Run a scenario file from now on (engineer, audited); replaces a running one",
             responses=WRITE_RESPONSES)
async def run_scenario(body: ScenarioIn, request: Request, ctx: Ctx, user: Engineer) -> SimulatorOut:
    sim = control(request)
    model = sim.model
    files = sim.scenario_files()
    path = files.get(body.name)
    if path is None:
        raise ApiProblem(404, "unknown-scenario", "Unknown scenario",
                         f"no scenario {body.name!r}; available: {', '.join(files) or 'none'}")
    try:
        loaded = load_scenario(path)
    except Exception as exc:  # ConfigError lists every problem with its line
        raise ApiProblem(422, "bad-scenario", "Scenario file refused", str(exc)) from None
    t0 = model.t_s
    # Scenario times count from the start of a run; this run starts now.
    shifted = dataclasses.replace(loaded, events=tuple(e.model_copy(update={"at": e.at + t0}) for e in loaded.events))
    old = None if sim.running is None else sim.running.name
    model.attach_scenario(shifted.player())
    sim.plc.comms_drops = tuple(shifted.comms_drops())
    sim.running = RunningScenario(loaded.name, loaded.description, t0, shifted)
    await _audit(ctx, request, user, "scenario", {"scenario": old}, {"scenario": loaded.name},
                 {"action": "run", "file": path.name, "sim_time_s": t0})
    return state_out(sim)


@router.delete("/scenario", summary="Stop the running scenario (engineer, audited); faults it made stay",
               responses=WRITE_RESPONSES)
async def stop_scenario(request: Request, ctx: Ctx, user: Engineer) -> SimulatorOut:
    sim = control(request)
    if sim.running is None:
        raise ApiProblem(409, "no-scenario", "No scenario running", "no scenario was started from the panel")
    old = sim.running.name
    sim.model.attach_scenario(None)
    sim.plc.comms_drops = ()
    sim.running = None
    await _audit(ctx, request, user, "scenario", {"scenario": old}, {"scenario": None}, {"action": "stop"})
    return state_out(sim)


def install(app: FastAPI, plc: object) -> None:
    """Mount the bench on a service running against the simulator (api.app imports this module only then)."""
    if not isinstance(plc, SimulatedPlc):
        raise TypeError(f"the simulator bench needs a sim.facade.runner.SimulatedPlc, not {type(plc).__name__}")
    scenario_dir = None if plc.config_path is None else plc.config_path.parent / "scenarios"
    app.state.simulator = SimulatorControl(plc, scenario_dir)
    app.include_router(router)
