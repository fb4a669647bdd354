"""The audit trail, read-only: who did what, when, from where, with the old and new values."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from api.auth.deps import Ctx, Engineer
from api.errors import ApiProblem, problem_responses
from api.schemas import NO_NUL
from api.timerange import ApiDateTime

router = APIRouter(prefix="/api/v1/audit", tags=["audit"], responses=problem_responses(401, 403, 422))


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 42, "ts": "2026-11-27T23:12:03.120000Z", "actor": "operator", "action": "setpoint",
        "target": "PHC-101", "old": {"value": 7.5, "unit": "pH"}, "new": {"value": 7.2, "unit": "pH"},
        "source_address": "127.0.0.1", "detail": {"via": "cookie"}}]})

    id: int
    ts: datetime
    actor: str
    action: str
    target: str
    old: Any
    new: Any
    source_address: str
    detail: dict[str, Any]


class AuditPageOut(BaseModel):
    entries: list[AuditEntryOut]
    next_cursor: str | None


@router.get("", summary="Audit entries, newest first, filtered (engineer)")
async def query_audit(ctx: Ctx, _user: Engineer,
                      start: Annotated[ApiDateTime | None, Query()] = None,
                      end: Annotated[ApiDateTime | None, Query()] = None,
                      actor: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
                      action: Annotated[str | None, Query(max_length=64, pattern=NO_NUL, examples=["setpoint"])] = None,
                      target: Annotated[str | None, Query(max_length=128, pattern=NO_NUL)] = None,
                      limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                      cursor: Annotated[str | None, Query(max_length=200, pattern=NO_NUL,
                                                          description="next_cursor of the previous page")] = None,
                      ) -> AuditPageOut:
    try:
        page = await ctx.audit.query(start=start, end=end, actor=actor, action=action, target=target, limit=limit,
                                     cursor=cursor)
    except ValueError as exc:
        raise ApiProblem(422, "validation", "Bad audit query", str(exc)) from None
    return AuditPageOut(entries=[AuditEntryOut(id=e.id, ts=e.ts, actor=e.actor, action=e.action, target=e.target,
                                               old=e.old, new=e.new, source_address=e.source_address,
                                               detail=e.detail) for e in page.entries],
                        next_cursor=page.next_cursor)
