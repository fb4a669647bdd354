"""The optional `process:` section: the treatment train's units in flow order, for the panel's process graphic."""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UnitKind(StrEnum):
    LINE = "line"  # a pipe run carrying instruments (influent, discharge)
    TANK = "tank"
    COLUMN = "column"
    VALVE = "valve"


class ProcessUnit(_Strict):
    """One unit of the train, with the instruments drawn on it and the pumps dosing into it."""

    name: str = Field(min_length=1, max_length=64)
    kind: UnitKind
    description: str = Field(default="", max_length=200)
    instruments: list[str] = Field(default_factory=list, description="tags shown on this unit")
    pumps: list[str] = Field(default_factory=list, description="pump names; their tags are <pump>.SPEED, .RUNNING …")


class ProcessConfig(_Strict):
    """Units in flow order, first to last."""

    units: list[ProcessUnit] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> ProcessConfig:
        seen: set[str] = set()
        for u in self.units:
            if u.name in seen:
                raise ValueError(f"duplicate process unit {u.name!r}")
            seen.add(u.name)
        return self


_TAG = re.compile(r"^([A-Z]+)-(\d+)$")
_PUMP = re.compile(r"^(P-\d+)\.")


def derived_process(tags: Iterable[str], loop_links: dict[str, str]) -> ProcessConfig:
    """A default train from ISA tag names when the plant file has no process: section.

    Instruments are grouped by their loop number (AIT-101, LIT-101 → unit 101), in number order; a group
    with a level transmitter (LIT) is a tank. A pump (P-201.*) joins the unit of the loop PV it doses
    (`loop_links`: pump → PV tag), else stands on its own line.
    """
    groups: dict[int, list[str]] = {}
    pumps: list[str] = []
    for tag in tags:
        m = _TAG.match(tag)
        p = _PUMP.match(tag)
        if p is not None and p.group(1) not in pumps:
            pumps.append(p.group(1))
        elif m is not None and not m.group(1).startswith("P"):
            groups.setdefault(int(m.group(2)), []).append(tag)
    units: dict[int, ProcessUnit] = {}
    for num in sorted(groups):
        is_tank = any(t.startswith("L") for t in groups[num])
        units[num] = ProcessUnit(name=f"T-{num}" if is_tank else f"{num}", kind=UnitKind.TANK if is_tank
                                 else UnitKind.LINE, instruments=groups[num])
    orphans = []
    for pump in pumps:
        pv = loop_links.get(pump)
        m = _TAG.match(pv) if pv else None
        if m is not None and int(m.group(2)) in units:
            u = units[int(m.group(2))]
            units[int(m.group(2))] = u.model_copy(update={"pumps": [*u.pumps, pump]})
        else:
            orphans.append(ProcessUnit(name=pump, kind=UnitKind.LINE, pumps=[pump]))
    out = [*units.values(), *orphans]
    return ProcessConfig(units=out or [ProcessUnit(name="plant", kind=UnitKind.LINE)])
