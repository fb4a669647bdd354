"""The shift logbook: operators write timestamped notes (audited); everyone signed in reads and searches them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from api.auth.deps import Ctx, Operator, Viewer
from api.context import ApiContext, client_ip
from api.errors import ApiProblem, problem_responses
from api.schemas import NO_NUL
from plantctl.audit.audit import AuditNotDurableError
from plantctl.logbook.notes import MAX_NOTE_CHARS, Logbook, Note

router = APIRouter(prefix="/api/v1/logbook", tags=["logbook"], responses=problem_responses(401, 403, 422))


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "text": "P-202 suction strainer cleaned; acid dosing back to normal at 14:20"}]})
    text: str = Field(min_length=1, max_length=MAX_NOTE_CHARS, pattern=NO_NUL)


class NoteOut(BaseModel):
    id: int
    ts: datetime
    author: str
    text: str


def note_out(n: Note) -> NoteOut:
    return NoteOut(id=n.id, ts=n.ts, author=n.author, text=n.body)


def logbook(ctx: ApiContext) -> Logbook:
    return Logbook(ctx.pool, ctx.audit)


@router.get("", summary="Notes, newest first; `q` searches text and author, since/until bound the time (viewer)")
async def list_notes(ctx: Ctx, _user: Viewer,
                     q: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None,
                     since: Annotated[AwareDatetime | None, Query()] = None,
                     until: Annotated[AwareDatetime | None, Query()] = None,
                     limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[NoteOut]:
    try:
        notes = await logbook(ctx).notes(since=since, until=until, text=q, limit=limit)
    except ValueError as exc:
        raise ApiProblem(422, "validation", "Bad logbook query", str(exc)) from None
    return [note_out(n) for n in notes]


@router.post("", status_code=201, summary="Write a note (operator); audited as logbook_note before it is stored",
             responses=problem_responses(503))
async def add_note(body: NoteIn, request: Request, ctx: Ctx, user: Operator) -> NoteOut:
    try:
        note = await logbook(ctx).add(user.username, body.text, client_ip(request))
    except ValueError as exc:
        raise ApiProblem(422, "validation", "Bad logbook note", str(exc)) from None
    except AuditNotDurableError as exc:
        raise ApiProblem(503, "audit-unavailable", "Audit trail unavailable",
                         f"the note was not stored because it could not be audited ({exc})") from None
    return note_out(note)
