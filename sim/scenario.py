"""Scenario files: timed process events (influent steps/ramps, shock loads, sensor and pump faults, comms drops).

An engineer writes them in YAML without reading code (format: docs/simulator-model.md §Scenarios).
Errors are reported all at once with file and line. The model plays process events itself through
ScenarioPlayer; comms drops are for the PLC facade (Scenario.comms_drops()).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from plantctl.config.load import validate_section
from plantctl.config.yamlsrc import ConfigError, ConfigIssue, LocatedDocument, load_located
from sim.params import SENSOR_TAGS

if TYPE_CHECKING:
    from sim.model import PlantModel

SensorTag = Literal["FIT-100", "AIT-100", "AIT-101", "CIT-101", "LIT-101", "TIT-101", "AIT-301", "AIT-104",
                    "AIT-105", "AIT-302", "FIT-201", "FIT-202", "AIT-401", "AIT-402", "AIT-403", "AIT-410",
                    "FIT-401", "FIT-402", "FIT-410", "LIT-501", "FIT-501", "AIT-300"]
PumpTag = Literal["P-201", "P-202", "P-401", "P-402"]
Server = Literal["opcua", "modbus"]
assert set(SensorTag.__args__) == set(SENSOR_TAGS)  # type: ignore[attr-defined]

_AT = re.compile(r"^(\d+):([0-5]\d)(?::([0-5]\d(?:\.\d+)?))?$")


def parse_at(value: Any) -> float:
    """Event time since the start of the run: 'HH:MM', 'HH:MM:SS' (hours may exceed 23) or seconds."""
    if isinstance(value, bool):
        raise ValueError(f"at: give a time like '06:30' or '06:30:15' or seconds, got {value!r}")
    if isinstance(value, int | float):
        if not 0 <= value < math.inf:
            raise ValueError(f"at: seconds must be a finite number >= 0, got {value}")
        return float(value)
    if isinstance(value, str):
        m = _AT.match(value.strip())
        if m:
            return int(m[1]) * 3600.0 + int(m[2]) * 60.0 + float(m[3] or 0.0)
    raise ValueError(f"at: give a time like '06:30' or '06:30:15' (since the start) or seconds, got {value!r}")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class _Timed(Strict):
    at: float = Field(description="seconds since the start of the run")

    @field_validator("at", mode="before")
    @classmethod
    def _at(cls, v: Any) -> float:
        return parse_at(v)


class InfluentChange(Strict):
    """New values for influent quantities; 'pattern' hands a quantity back to the daily pattern."""

    flow_m3_h: float | str | None = None
    ph: float | str | None = None
    li_mg_l: float | str | None = None
    na_mg_l: float | str | None = None
    tic_mmol_l: float | str | None = None
    chloride_mmol_l: float | str | None = None
    temp_c: float | str | None = None
    fluoride_mg_l: float | str | None = None
    phosphate_mg_l: float | str | None = None
    ni_mg_l: float | str | None = None
    co_mg_l: float | str | None = None
    mn_mg_l: float | str | None = None
    cu_mg_l: float | str | None = None
    fe_mg_l: float | str | None = None
    al_mg_l: float | str | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _number_or_pattern(cls, v: Any, info: ValidationInfo) -> Any:
        if v is None or v == "pattern":
            return v
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError(f"{info.field_name}: give a number or 'pattern' (back to the daily pattern), "
                             f"got {v!r}")
        return float(v)

    @model_validator(mode="after")
    def _some(self) -> InfluentChange:
        given = self.given()
        if not given:
            raise ValueError("influent: name at least one of " + ", ".join(type(self).model_fields))
        for name, v in given.items():
            if v is not None:
                _check_quantity(name, v)
        return self

    def given(self) -> dict[str, float | None]:
        """Quantities this change sets (None = back to the pattern)."""
        out: dict[str, float | None] = {}
        for name in type(self).model_fields:
            v = getattr(self, name)
            if v is not None:
                out[name] = None if v == "pattern" else float(v)
        return out


_LIMITS = {
    "flow_m3_h": (0.1, 50.0), "ph": (0.0, 14.0), "li_mg_l": (0.0, 5000.0), "na_mg_l": (0.0, 20000.0),
    "tic_mmol_l": (0.0, 100.0), "chloride_mmol_l": (0.0, 1000.0), "temp_c": (0.0, 60.0),
    "fluoride_mg_l": (0.0, 5000.0), "phosphate_mg_l": (0.0, 5000.0), "ni_mg_l": (0.0, 5000.0),
    "co_mg_l": (0.0, 5000.0), "mn_mg_l": (0.0, 5000.0), "cu_mg_l": (0.0, 1000.0), "fe_mg_l": (0.0, 1000.0),
    "al_mg_l": (0.0, 1000.0),
}


def _check_quantity(name: str, v: float) -> None:
    lo, hi = _LIMITS[name]
    if not lo <= v <= hi:
        raise ValueError(f"{name} must be within {lo}..{hi}, got {v}")


class InfluentEvent(_Timed):
    influent: InfluentChange
    ramp_s: float = Field(default=0.0, ge=0, le=7 * 86400)


class ShockLoad(Strict):
    """A slug from upstream: these influent values replace the current ones for duration_s."""

    duration_s: float = Field(gt=0, le=86400)
    flow_m3_h: float | None = None
    ph: float | None = None
    li_mg_l: float | None = None
    na_mg_l: float | None = None
    tic_mmol_l: float | None = None
    chloride_mmol_l: float | None = None
    temp_c: float | None = None
    fluoride_mg_l: float | None = None
    phosphate_mg_l: float | None = None
    ni_mg_l: float | None = None
    co_mg_l: float | None = None
    mn_mg_l: float | None = None
    cu_mg_l: float | None = None
    fe_mg_l: float | None = None
    al_mg_l: float | None = None

    @model_validator(mode="after")
    def _some(self) -> ShockLoad:
        values = self.values()
        if not values:
            raise ValueError("shock_load: name at least one influent quantity besides duration_s")
        for name, v in values.items():
            _check_quantity(name, v)
        return self

    def values(self) -> dict[str, float]:
        return {n: float(getattr(self, n)) for n in type(self).model_fields
                if n != "duration_s" and getattr(self, n) is not None}


class ShockEvent(_Timed):
    shock_load: ShockLoad


class SensorEvent(_Timed):
    """One fault on one instrument: fail, stuck, drift_per_h, offset, or recover (repaired)."""

    sensor: SensorTag
    fail: Literal[True] | None = None
    stuck: Literal[True] | None = None
    recover: Literal[True] | None = None
    drift_per_h: float | None = Field(default=None, description="engineering units per hour")
    offset: float | None = Field(default=None, description="calibration offset, engineering units")
    broken: Literal[True] | None = None
    calibrate: Literal[True] | None = None
    coating_per_day: float | None = Field(default=None, ge=0, le=86400, description="lag seconds added per day")

    @model_validator(mode="after")
    def _one(self) -> SensorEvent:
        acts = [n for n in _SENSOR_ACTS if getattr(self, n) is not None]
        if len(acts) != 1:
            raise ValueError("a sensor event takes exactly one of fail: true, stuck: true, recover: true, "
                             "drift_per_h: N, offset: N, broken: true, calibrate: true, coating_per_day: N "
                             f"(got {', '.join(acts) or 'none'})")
        return self


_SENSOR_ACTS = ("fail", "stuck", "recover", "drift_per_h", "offset", "broken", "calibrate", "coating_per_day")


class PumpEvent(_Timed):
    """A motor-protection trip, or a local reset at the pump."""

    pump: PumpTag
    trip: Literal[True] | None = None
    reset: Literal[True] | None = None
    capacity_pct: float | None = Field(default=None, ge=0, le=100,
                                       description="capacity left (wear, air lock); 100 = recovered")
    reagent_mol_l: float | None = Field(default=None, gt=0, le=25,
                                        description="the reagent really delivered (a wrong batch)")

    @model_validator(mode="after")
    def _one(self) -> PumpEvent:
        acts = [n for n in ("trip", "reset", "capacity_pct", "reagent_mol_l") if getattr(self, n) is not None]
        if len(acts) != 1:
            raise ValueError("a pump event takes exactly one of trip: true, reset: true, capacity_pct: N, "
                             f"reagent_mol_l: N (got {', '.join(acts) or 'none'})")
        return self


class ColumnChange(Strict):
    """C-301's bed as it is now: a fresh bed after regeneration (0) or one near exhaustion (near 1)."""

    loading_fraction: float = Field(ge=0, le=1, description="Li held, as a share of the bed's full capacity")


class ColumnEvent(_Timed):
    """C-301 swapped or regenerated (loading 0), or found loaded (a bed near breakthrough)."""

    column: ColumnChange


class CommsDropSpec(Strict):
    server: Server
    duration_s: float = Field(gt=0, le=86400)


class CommsDropEvent(_Timed):
    comms_drop: CommsDropSpec


Event = InfluentEvent | ShockEvent | SensorEvent | PumpEvent | CommsDropEvent | ColumnEvent
_KINDS: dict[str, type[Event]] = {
    "influent": InfluentEvent, "shock_load": ShockEvent, "sensor": SensorEvent, "pump": PumpEvent,
    "comms_drop": CommsDropEvent, "column": ColumnEvent,
}


class ScenarioHeader(Strict):
    scenario: str = Field(min_length=1, max_length=100)
    description: str = ""
    duration_h: float = Field(gt=0, le=24 * 31)
    seed: int | None = Field(default=None, ge=0, description="overrides the plant file's seed")
    events: list[Any] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CommsDrop:
    """The facade drops one server's connections for a while (simulated seconds)."""

    start_s: float
    duration_s: float
    server: str


@dataclass(frozen=True)
class Scenario:
    """A validated scenario: events in time order (file order among equal times)."""

    name: str
    description: str
    duration_s: float
    seed: int | None
    events: tuple[Event, ...]

    def comms_drops(self) -> list[CommsDrop]:
        return [CommsDrop(e.at, e.comms_drop.duration_s, e.comms_drop.server)
                for e in self.events if isinstance(e, CommsDropEvent)]

    def player(self) -> ScenarioPlayer:
        return ScenarioPlayer(self)


def check_scenario(doc: LocatedDocument) -> tuple[Scenario | None, list[ConfigIssue]]:
    """Validate a parsed scenario document; every issue carries its line."""
    issues: list[ConfigIssue] = []
    if not isinstance(doc.data, dict):
        return None, [doc.issue((), "a scenario file is a mapping with scenario:, duration_h: and events:")]
    header = validate_section(doc, ScenarioHeader, doc.data, (), issues)
    raw_events = doc.data.get("events")
    if raw_events is not None and not isinstance(raw_events, list):
        return None, issues
    events: list[Event] = []
    for i, item in enumerate(raw_events or []):
        loc = ("events", i)
        if not isinstance(item, dict):
            issues.append(doc.issue(loc, "an event is a mapping like {at: '06:00', influent: {ph: 2}}"))
            continue
        kinds = [k for k in _KINDS if k in item]
        if len(kinds) != 1:
            issues.append(doc.issue(loc, "an event needs exactly one of " + ", ".join(f"{k}:" for k in _KINDS)
                                    + (f" (got {', '.join(kinds)})" if kinds else "")))
            continue
        if "at" not in item:
            issues.append(doc.issue(loc, "missing required field 'at' (e.g. at: '06:00')"))
            continue
        event = validate_section(doc, _KINDS[kinds[0]], item, loc, issues)
        if event is None:
            continue
        duration_h = doc.data.get("duration_h")
        if isinstance(duration_h, int | float) and event.at > duration_h * 3600.0:
            issues.append(doc.issue((*loc, "at"), f"event at {event.at:.0f} s is after the end of the "
                                    f"scenario ({duration_h} h)"))
            continue
        events.append(event)
    if issues or header is None:
        return None, sorted(issues, key=lambda x: (x.line or 0, str(x.loc)))
    ordered = tuple(sorted(events, key=lambda e: e.at))  # stable: file order among equal times
    return Scenario(header.scenario, header.description, header.duration_h * 3600.0, header.seed, ordered), []


def load_scenario(path: str | Path, text: str | None = None) -> Scenario:
    """Load and check a scenario file; ConfigError lists every problem with file and line."""
    doc = load_located(path, text)
    scenario, issues = check_scenario(doc)
    if scenario is None:
        raise ConfigError(issues)
    return scenario


@dataclass(frozen=True, slots=True)
class Applied:
    """An event as it was applied: when (simulated seconds) and what, for trajectories and logs."""

    t_s: float
    event: Event


class ScenarioPlayer:
    """Applies a scenario's process events to a PlantModel as its simulated time reaches them."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self._next = 0
        self.applied: list[Applied] = []

    def advance(self, model: PlantModel) -> None:
        """Apply every event due at or before the model's current time (called at the start of step)."""
        events = self.scenario.events
        t = model.t_s
        while self._next < len(events) and events[self._next].at <= t + 1e-9:
            event = events[self._next]
            self._next += 1
            _apply(model, event, t)
            self.applied.append(Applied(t, event))


def _apply(model: PlantModel, event: Event, t: float) -> None:
    if isinstance(event, InfluentEvent):
        for name, target in event.influent.given().items():
            model.influent.set_quantity(t, name, target, event.ramp_s)
    elif isinstance(event, ShockEvent):
        model.influent.shock(t, event.shock_load.values(), event.shock_load.duration_s)
    elif isinstance(event, SensorEvent):
        sensor = model.sensors[event.sensor]
        if event.fail:
            sensor.fail()
        elif event.stuck:
            sensor.stick()
        elif event.recover:
            sensor.recover()
        elif event.drift_per_h is not None:
            sensor.set_drift(event.drift_per_h)
        elif event.offset is not None:
            sensor.set_offset(event.offset)
        elif event.broken:
            sensor.break_glass()
        elif event.calibrate:
            sensor.calibrate()
        elif event.coating_per_day is not None:
            sensor.set_coating_rate(event.coating_per_day)
    elif isinstance(event, PumpEvent):
        if event.trip:
            model.trip_pump(event.pump)
        elif event.reset:
            model.reset_pump(event.pump)
        elif event.capacity_pct is not None:
            model.pumps[event.pump].set_capacity_pct(event.capacity_pct)
        elif event.reagent_mol_l is not None:
            model.pumps[event.pump].reagent_mol_l = event.reagent_mol_l
    elif isinstance(event, ColumnEvent):
        model.column.set_loading(event.column.loading_fraction)
    # CommsDropEvent: the facade's business (Scenario.comms_drops()); the process does not notice.
