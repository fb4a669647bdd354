"""Operator writes to single plant tags (pump run/stop/reset): refused unless writable, unowned and in range."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth.deps import Ctx, Operator
from api.context import ApiContext, client_ip
from api.errors import ApiProblem, problem_responses
from api.routers.tags import unknown_tag
from api.schemas import NO_NUL
from plantctl.audit.audit import AuditAction
from plantctl.config.models import LoopMode, TagConfig
from plantctl.samples import utcnow
from plantctl.writes import WriteStatus

router = APIRouter(prefix="/api/v1/tags", tags=["tags"], responses=problem_responses(401, 403, 422))
LOOP_OWNED = (LoopMode.AUTO, LoopMode.CAS)


class TagWriteIn(BaseModel):
    model_config = ConfigDict(extra="forbid",
                              json_schema_extra={"examples": [{"value": 1, "reason": "start NaOH dosing"}]})
    value: float = Field(strict=True, allow_inf_nan=False, description="in the tag's unit (bool tags: 0 or 1)")
    reason: str = Field(default="", max_length=500, pattern=NO_NUL)


class TagWriteOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "tag": "P-201.RUN", "value": 1.0, "value_read_back": 1.0, "unit": "bool",
        "detail": "written and read back", "at": "2026-11-28T00:50:00Z"}]})

    tag: str
    value: float = Field(description="the value sent, in the tag's unit")
    value_read_back: float | None = Field(description="what the device reads back after the write; null if unread")
    unit: str
    detail: str = Field(description="the connector's words on the write")
    at: datetime


def _owner_loop(ctx: ApiContext, tag: str) -> str | None:
    """The loop that writes this tag now (AUTO/CAS), named with its mode; None when nobody owns it."""
    for loop in (ctx.loops or {}).values():
        if tag in loop.cfg.mv and loop.mode in LOOP_OWNED:
            return f"{loop.name} in {loop.mode.value}"
    return None


def _check_writable(ctx: ApiContext, tag: TagConfig, value: float) -> None:
    """Every refusal before anything leaves the service: ownership, heartbeat, range."""
    if not tag.writable:
        raise ApiProblem(409, "not-writable", "Tag not writable",
                         f"{tag.name} is not writable in the plant file (a measurement or feedback)")
    if any(getattr(src, "heartbeat_tag", None) == tag.name for src in ctx.runtime.config.sources):
        raise ApiProblem(409, "heartbeat", "Heartbeat tag",
                         f"{tag.name} is the supervisory heartbeat; the service writes it, an operator may not")
    owner = _owner_loop(ctx, tag.name)
    if owner is not None:
        raise ApiProblem(409, "loop-owned", "Tag owned by a loop",
                         f"{tag.name} is an output of loop {owner}; switch the loop to MAN to write it here")
    low, high = tag.range.low, tag.range.high
    if not low <= value <= high:
        raise ApiProblem(422, "out-of-range", "Value out of range",
                         f"{value:g} {tag.unit} for {tag.name} is outside its range [{low:g}, {high:g}] {tag.unit}")
    if tag.unit == "bool" and value not in (0.0, 1.0):
        raise ApiProblem(422, "out-of-range", "Value out of range", f"{tag.name} is a bit: write 0 or 1, not {value:g}")


@router.post("/{name}/write", summary="Write one writable tag (operator): range-checked, refused for "
             "loop-owned outputs and heartbeats (409), audited",
             responses=problem_responses(404, 409, 502))
async def write_tag(name: str, body: TagWriteIn, request: Request, ctx: Ctx, user: Operator) -> TagWriteOut:
    try:
        tag = ctx.runtime.config.tag(name)
    except KeyError:
        raise unknown_tag(name) from None
    _check_writable(ctx, tag, body.value)
    last = ctx.runtime.live.get(tag.name)
    result = await ctx.runtime.write(tag.name, body.value)
    if not result.accepted:
        if result.status in (WriteStatus.LINK_DOWN, WriteStatus.TIMEOUT):
            raise ApiProblem(502, "link-down", "Device not reachable", result.reason)
        raise ApiProblem(409, "device-refused", "Write refused by the device", result.reason)
    old = None if last is None or last.value != last.value else last.value
    await ctx.audit.record(user.username, AuditAction.TAG_WRITE, tag.name, old={"value": old, "unit": tag.unit},
                           new={"value": body.value, "unit": tag.unit}, source_address=client_ip(request),
                           detail={"reason": body.reason, "via": user.via, "read_back": result.value_read_back,
                                   "device": result.reason})
    return TagWriteOut(tag=tag.name, value=body.value, value_read_back=result.value_read_back, unit=tag.unit,
                       detail=result.reason, at=utcnow())
