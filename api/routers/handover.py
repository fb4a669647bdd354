"""Shift handover: what the next shift must know now — alarms, loops, instruments and voted electrodes off
normal, notes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.auth.deps import Ctx, Viewer
from api.context import ApiContext
from api.errors import problem_responses
from api.routers.alarms import AlarmOut, _out, _units
from api.routers.logbook import NoteOut, logbook, note_out
from plantctl.alarms.states import ANNUNCIATED, AlarmState
from plantctl.config.models import LoopMode, display_decimals
from plantctl.samples import utcnow

router = APIRouter(prefix="/api/v1/handover", tags=["logbook"], responses=problem_responses(401, 403, 422))


class LoopOffNormalOut(BaseModel):
    name: str
    description: str
    mode: str
    setpoint: float
    output: float = Field(description="controller output, %; in MAN this is the operator's override")
    pv_unit: str
    decimals: int
    interlocks: list[str]


class InstrumentOut(BaseModel):
    tag: str
    description: str
    unit: str
    decimals: int
    value: float | None
    quality: str = Field(description="BAD, UNCERTAIN, NO VALUE or OUT OF SERVICE")
    reason: str
    ts: datetime | None


class ElectrodeOutOfVoteOut(BaseModel):
    tag: str
    loop: str
    fault: str = Field(description="why: frozen, drift, broken_glass, bad_quality, stale, deviation, out_of_service")
    reason: str


class HandoverOut(BaseModel):
    at: datetime
    since: datetime
    standing_alarms: list[AlarmOut]
    shelved_alarms: list[AlarmOut]
    out_of_service_alarms: list[AlarmOut]
    loops_not_in_auto: list[LoopOffNormalOut]
    overrides: list[LoopOffNormalOut] = Field(description="loops in MAN: their output is the operator's")
    instruments: list[InstrumentOut] = Field(description="Bad or Uncertain now, or with an alarm out of service")
    electrodes_out_of_vote: list[ElectrodeOutOfVoteOut] = Field(
        default_factory=list, description="voted electrodes the loops no longer use: to clean, recalibrate, return")
    notes: list[NoteOut]


def _loops(ctx: ApiContext) -> list[LoopOffNormalOut]:
    out = []
    for loop in (ctx.loops or {}).values():
        if loop.mode is LoopMode.AUTO:
            continue
        try:
            decimals = display_decimals(ctx.runtime.config.tag(loop.cfg.pv))
        except KeyError:
            decimals = 2
        out.append(LoopOffNormalOut(name=loop.name, description=loop.cfg.description, mode=loop.mode.value,
                                    setpoint=loop.setpoint, output=loop.output, pv_unit=loop.pv_unit,
                                    decimals=decimals, interlocks=list(loop.active_interlocks)))
    return out


def _out_of_vote(ctx: ApiContext) -> list[ElectrodeOutOfVoteOut]:
    out = []
    for loop in (ctx.loops or {}).values():
        voter = loop.voter
        for tag in voter.electrodes if voter is not None else ():
            fault = voter.fault_of(tag) if voter is not None else None
            if voter is not None and fault is not None:
                out.append(ElectrodeOutOfVoteOut(tag=tag, loop=loop.name, fault=fault.value,
                                                 reason=voter.fault_reason(tag)))
    return out


def _instruments(ctx: ApiContext, oos_tags: set[str]) -> list[InstrumentOut]:
    out = []
    for t in ctx.runtime.config.tags:
        s = ctx.runtime.live.get(t.name)
        if s is not None and s.quality.is_good and t.name not in oos_tags:
            continue
        if t.name in oos_tags:
            word = "OUT OF SERVICE"
        elif s is None:
            word = "NO VALUE"
        else:
            word = "BAD" if s.quality.is_bad else "UNCERTAIN"
        out.append(InstrumentOut(tag=t.name, description=t.description, unit=t.unit, decimals=display_decimals(t),
                                 value=None if s is None or s.value != s.value else s.value, quality=word,
                                 reason="" if s is None else (s.reason or s.quality.reason), ts=None if s is None
                                 else s.ts))
    return out


@router.get("", summary="The handover sheet: standing, shelved and out-of-service alarms, loops off AUTO, "
            "overrides, instruments not Good, notes of the last `hours` (viewer)")
async def handover(ctx: Ctx, _user: Viewer,
                   hours: Annotated[float, Query(gt=0, le=72, description="how far back notes go: one shift")] = 12,
                   ) -> HandoverOut:
    now = utcnow()
    since = now - timedelta(hours=hours)
    statuses = ctx.alarms.engine.statuses() if ctx.alarms is not None else []
    units = _units(ctx)
    oos = [s for s in statuses if s.state is AlarmState.OOSRV]
    loops = _loops(ctx)
    notes = await logbook(ctx).notes(since=since, limit=500)
    return HandoverOut(
        at=now, since=since,
        standing_alarms=[_out(s, units) for s in statuses if s.state in ANNUNCIATED],
        shelved_alarms=[_out(s, units) for s in statuses if s.state is AlarmState.SHLVD],
        out_of_service_alarms=[_out(s, units) for s in oos],
        loops_not_in_auto=loops, overrides=[lp for lp in loops if lp.mode == LoopMode.MAN.value],
        instruments=_instruments(ctx, {s.tag for s in oos}), electrodes_out_of_vote=_out_of_vote(ctx),
        notes=[note_out(n) for n in notes])
