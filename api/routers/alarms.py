"""Alarms (ISA-18.2): the annunciated list, the journal, and the actions — all through AlarmService, audited.

Operator: ack, shelve, unshelve, reset (latched alarms). Engineer: out of service / return to service, with a reason.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth.deps import Ctx, Engineer, Operator, Viewer
from api.context import ApiContext, client_ip
from api.errors import ApiProblem, problem_responses
from api.outcomes import audit_unavailable
from api.schemas import NO_NUL, QualityOut, quality_out
from api.timerange import ApiDateTime
from plantctl.alarms.engine import AlarmStatus
from plantctl.alarms.journal import read_journal
from plantctl.alarms.service import AlarmService
from plantctl.alarms.states import AlarmRefused, AlarmState, Transition
from plantctl.audit import AuditNotDurableError
from plantctl.samples import utcnow

router = APIRouter(prefix="/api/v1/alarms", tags=["alarms"], responses=problem_responses(401, 403, 422, 503))
WRITE_RESPONSES = problem_responses(404, 409, 503)


class AlarmOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "name": "AIT-101.HH", "tag": "AIT-101", "type": "HH", "priority": 1, "state": "UNACK", "active": True,
        "acked": False, "latched": False, "value": 9.3, "unit": "pH",
        "quality": {"code": 192, "name": "GOOD", "reason": "good", "good": True},
        "active_since": "2026-11-27T23:01:05Z", "shelved_until": None, "shelve_reason": "",
        "message": "Discharge pH above permit"}]})

    name: str
    tag: str
    type: str
    priority: int = Field(ge=1, le=4, description="1 urgent … 4 low")
    state: AlarmState
    active: bool
    acked: bool
    latched: bool
    value: float | None
    unit: str
    quality: QualityOut | None
    active_since: datetime | None
    shelved_until: datetime | None
    shelve_reason: str
    message: str


class JournalOut(BaseModel):
    ts: datetime
    id: int
    alarm: str
    event: str
    old_state: str
    new_state: str
    priority: int
    value: float | None
    unit: str
    quality: int | None
    user: str
    comment: str


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"comment": "dosing pump restarted"}]})
    comment: str = Field(default="", max_length=500, pattern=NO_NUL)


class ShelveIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "reason": "AIT-101 electrode being recalibrated", "duration_s": 1800}]})
    reason: str = Field(min_length=1, max_length=500, pattern=NO_NUL, description="why (ISA-18.2 requires one)")
    duration_s: float | None = Field(default=None, strict=True, gt=0, le=7 * 86400,
                                     description="timed shelve; absent: one-shot (until return to normal)")


class UnshelveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str = Field(default="", max_length=500, pattern=NO_NUL)


class ResetIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"comment": "pump fault cleared"}]})
    comment: str = Field(default="", max_length=500, pattern=NO_NUL)


class ServiceIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "reason": "AIT-101 electrode replaced, loop check pending"}]})
    reason: str = Field(min_length=1, max_length=500, pattern=NO_NUL, description="why (required, audited)")


class TransitionOut(BaseModel):
    alarm: str
    event: str
    old_state: AlarmState
    new_state: AlarmState
    ts: datetime
    user: str


def _service(ctx: ApiContext) -> AlarmService:
    if ctx.alarms is None:
        raise ApiProblem(503, "no-alarm-engine", "Alarm engine not running",
                         "this service runs without an alarm engine")
    return ctx.alarms


def _out(s: AlarmStatus, units: dict[str, str]) -> AlarmOut:
    return AlarmOut(name=s.name, tag=s.tag, type=s.type.value, priority=s.priority, state=s.state, active=s.active,
                    acked=s.acked, latched=s.latched, value=s.value, unit=units.get(s.tag, ""),
                    quality=None if s.quality is None else quality_out(s.quality), active_since=s.active_since,
                    shelved_until=s.shelved_until, shelve_reason=s.shelve_reason, message=s.message)


def _units(ctx: ApiContext) -> dict[str, str]:
    return ctx.runtime.tags.units()


def _status(alarms: AlarmService, name: str) -> AlarmStatus:
    try:
        return alarms.engine.status(name)
    except KeyError:
        raise ApiProblem(404, "unknown-alarm", "Unknown alarm", f"no alarm {name!r} in the plant file") from None


def _refused(exc: AlarmRefused) -> ApiProblem:
    return ApiProblem(409, "alarm-refused", "Alarm action refused", f"{exc.action} {exc.alarm}: {exc.reason} "
                      f"({exc.code})")


def _t_out(t: Transition) -> TransitionOut:
    return TransitionOut(alarm=t.alarm, event=t.event.value, old_state=t.old_state, new_state=t.new_state, ts=t.ts,
                         user=t.user)


@router.get("", summary="Alarms an operator must see now (unacknowledged, acknowledged, returned unacknowledged)")
async def active_alarms(ctx: Ctx, _user: Viewer,
                        all: Annotated[bool, Query(description="every configured alarm, in any state")] = False,
                        ) -> list[AlarmOut]:
    engine = _service(ctx).engine
    units = _units(ctx)
    return [_out(s, units) for s in (engine.statuses() if all else engine.annunciated())]


@router.get("/history", summary="The alarm journal: every transition and operator action, oldest first")
async def history(ctx: Ctx, _user: Viewer,
                  start: Annotated[ApiDateTime | None, Query(description="default: 24 h before end")] = None,
                  end: Annotated[ApiDateTime | None, Query(description="default: now")] = None,
                  alarm: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
                  limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> list[JournalOut]:
    end = end or utcnow()
    start = start or end - timedelta(days=1)
    if not start < end:
        raise ApiProblem(422, "validation", "Empty range", "start must be before end")
    rows = await read_journal(ctx.pool, start, end, alarm, limit)
    return [JournalOut(ts=r.ts, id=r.id, alarm=r.alarm, event=r.event, old_state=r.old_state, new_state=r.new_state,
                       priority=r.priority, value=r.value, unit=r.unit, quality=r.quality, user=r.user,
                       comment=r.comment) for r in rows]


@router.get("/{name}", summary="One alarm's state", responses=problem_responses(404))
async def get_alarm(name: str, ctx: Ctx, _user: Viewer) -> AlarmOut:
    return _out(_status(_service(ctx), name), _units(ctx))


@router.post("/{name}/ack", summary="Acknowledge (operator)", responses=WRITE_RESPONSES)
async def ack(name: str, body: AckIn, request: Request, ctx: Ctx, user: Operator) -> TransitionOut:
    alarms = _service(ctx)
    _status(alarms, name)
    try:
        result = await alarms.acknowledge([name], user.username, body.comment, client_ip(request), user.via)
    except AuditNotDurableError as exc:
        raise audit_unavailable(exc) from None
    if name in result.refused:
        raise _refused(result.refused[name])
    return _t_out(result.done[0])


async def _act(ctx: ApiContext, name: str, action: Callable[[AlarmService], Awaitable[Transition]]) -> TransitionOut:
    """One alarm action through AlarmService: 404 unknown, 409 refused by its state, 503 when it cannot be audited."""
    alarms = _service(ctx)
    _status(alarms, name)
    try:
        return _t_out(await action(alarms))
    except AlarmRefused as exc:
        raise _refused(exc) from None
    except AuditNotDurableError as exc:
        raise audit_unavailable(exc) from None


@router.post("/{name}/shelve", summary="Shelve with a reason, one-shot or timed (operator)", responses=WRITE_RESPONSES)
async def shelve(name: str, body: ShelveIn, request: Request, ctx: Ctx, user: Operator) -> TransitionOut:
    return await _act(ctx, name, lambda a: a.shelve(name, user.username, body.reason, body.duration_s,
                                                    client_ip(request), user.via))


@router.post("/{name}/unshelve", summary="Return a shelved alarm to annunciation (operator)",
             responses=WRITE_RESPONSES)
async def unshelve(name: str, body: UnshelveIn, request: Request, ctx: Ctx, user: Operator) -> TransitionOut:
    return await _act(ctx, name, lambda a: a.unshelve(name, user.username, body.comment, client_ip(request),
                                                      user.via))


@router.post("/{name}/reset", summary="Reset a latched alarm whose condition has cleared (operator); 409 otherwise",
             responses=WRITE_RESPONSES)
async def reset(name: str, body: ResetIn, request: Request, ctx: Ctx, user: Operator) -> TransitionOut:
    return await _act(ctx, name, lambda a: a.reset(name, user.username, body.comment, client_ip(request), user.via))


@router.post("/{name}/out-of-service", summary="Take an alarm out of service, with a reason (engineer)",
             responses=WRITE_RESPONSES)
async def out_of_service(name: str, body: ServiceIn, request: Request, ctx: Ctx, user: Engineer) -> TransitionOut:
    return await _act(ctx, name, lambda a: a.remove_from_service(name, user.username, body.reason,
                                                                 client_ip(request), user.via))


@router.post("/{name}/return-to-service", summary="Return an alarm to service, with a reason (engineer)",
             responses=WRITE_RESPONSES)
async def return_to_service(name: str, body: ServiceIn, request: Request, ctx: Ctx,
                            user: Engineer) -> TransitionOut:
    return await _act(ctx, name, lambda a: a.return_to_service(name, user.username, body.reason,
                                                               client_ip(request), user.via))
