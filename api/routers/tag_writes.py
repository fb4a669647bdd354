"""Operator writes to single plant tags (pump run/stop/reset), through the write gate and its one HTTP table."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth.deps import Ctx, Operator
from api.context import client_ip
from api.errors import ApiProblem, problem_responses
from api.outcomes import raise_for_outcome
from api.schemas import NO_NUL
from plantctl.runtime.write_gate import OperatorOrigin, WrittenNotAudited
from plantctl.samples import utcnow
from plantctl.writes import WriteStatus

router = APIRouter(prefix="/api/v1/tags", tags=["tags"], responses=problem_responses(401, 403, 422))


class TagWriteIn(BaseModel):
    model_config = ConfigDict(extra="forbid",
                              json_schema_extra={"examples": [{"value": 1, "reason": "start NaOH dosing"}]})
    value: float = Field(strict=True, allow_inf_nan=False, description="in the tag's unit (bool tags: 0 or 1)")
    reason: str = Field(default="", max_length=500, pattern=NO_NUL)


class TagWriteOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "tag": "P-201.RUN", "value": 1.0, "value_read_back": 1.0, "unit": "bool",
        "detail": "written and read back", "outcome": "written", "at": "2026-11-28T00:50:00Z"}]})

    tag: str
    value: float = Field(description="the value sent, in the tag's unit")
    value_read_back: float | None = Field(description="what the device reads back after the write; null if unread")
    unit: str
    detail: str = Field(description="the connector's words on the write")
    outcome: WriteStatus = Field(description="written (read back) or written-not-confirmed (read-back failed)")
    at: datetime


@router.post("/{name:path}/write", summary="Write one writable tag (operator) through the write gate: range-checked, "
             "refused for loop-owned outputs and heartbeats (409), audited",
             responses=problem_responses(404, 409, 502, 503, 504))
async def write_tag(name: str, body: TagWriteIn, request: Request, ctx: Ctx, user: Operator) -> TagWriteOut:
    origin = OperatorOrigin(user.username, user.role.label, client_ip(request), user.via, body.reason)
    try:
        outcome = await ctx.runtime.write(name, body.value, origin)
    except WrittenNotAudited as exc:
        raise ApiProblem(500, "written-not-audited", "Written but not audited",
                         f"{name} = {body.value:g}: {exc}; the write WAS sent to the device") from None
    raise_for_outcome(outcome)
    tag = ctx.runtime.config.tag(name)
    return TagWriteOut(tag=tag.name, value=body.value, value_read_back=outcome.value_read_back, unit=tag.unit,
                       detail=outcome.reason, outcome=outcome.status, at=utcnow())
