"""The lithium sorbent column: its loading and time to breakthrough (viewer), and recording a regeneration
(operator: audited, and noted in the shift logbook), which starts the loading again at zero."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from typing import Any

import psycopg
from fastapi import APIRouter, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from api.auth.deps import Ctx, Operator, Viewer
from api.context import ApiContext, client_ip
from api.errors import ApiProblem, problem_responses
from api.routers.logbook import NoteOut, logbook, note_out
from api.schemas import NO_NUL
from plantctl.audit.audit import AuditAction, AuditNotDurableError
from plantctl.config.reporting import Column, ReportingConfig
from plantctl.reports.column import ColumnState, Uptake, column_state, last_regeneration, since_regeneration
from plantctl.samples import utcnow

router = APIRouter(prefix="/api/v1/column", tags=["column"], responses=problem_responses(401, 403, 404))
READ_S = 15.0  # the loading moves by a fraction of a percent an hour: read at most this often
SETTLE_S = 600.0  # uptake older than this is kept and extended; the last SETTLE_S are read again each time
RECOUNT_S = 3600.0  # and the whole count since regeneration is redone this often (late data, a replayed spool)
MAX_BACKDATE = timedelta(days=7)


class ColumnOut(BaseModel):
    column: str
    capacity_kg: float
    at: datetime = Field(description="the moment the figures are for")
    regenerated_at: datetime | None = Field(description="last regeneration recorded; None: none recorded")
    regenerated_by: str | None
    loaded_kg: float | None = Field(description="measured + estimated since regeneration; None: not known")
    loading_pct: float | None = Field(description="loaded_kg of capacity_kg, %")
    measured_kg: float | None = Field(description="∫ flow × (inlet − outlet) dt over the time all were known")
    estimated_kg: float | None = Field(description="unknown_h × the mean measured uptake rate since regeneration")
    unknown_h: float | None = Field(description="hours since regeneration without uptake data (Bad, silent)")
    uptake_kg_h: float | None = Field(description="mean uptake over the last uptake_window_h of measured time")
    uptake_window_h: float
    hours_to_breakthrough: float | None = Field(description="remaining capacity ÷ uptake_kg_h; 0 once broken "
                                                "through; None: no uptake to judge by")
    outlet_ratio: float | None = Field(description="latest outlet ÷ inlet lithium")
    breakthrough_ratio: float
    broken_through: bool
    note: str = Field(description="why a figure is missing; empty when all are there")


def column_out(s: ColumnState, cfg: Column) -> ColumnOut:
    return ColumnOut(
        column=s.column, capacity_kg=s.capacity_kg, at=s.at,
        regenerated_at=None if s.regeneration is None else s.regeneration.at,
        regenerated_by=None if s.regeneration is None else s.regeneration.by,
        loaded_kg=s.loaded_kg, loading_pct=s.loading_pct, measured_kg=None if s.since is None else s.since.kg,
        estimated_kg=s.estimated_kg, unknown_h=None if s.since is None else s.since.unknown_h,
        uptake_kg_h=None if s.window is None else s.window.rate_kg_h, uptake_window_h=cfg.uptake_window_h,
        hours_to_breakthrough=s.hours_to_breakthrough, outlet_ratio=s.outlet_ratio,
        breakthrough_ratio=s.breakthrough_ratio, broken_through=s.broken_through, note=s.note)


class ColumnReader:
    """The column's state, read in a thread at most every READ_S (a stale one served while the next is read);
    the settled uptake since regeneration is kept and extended rather than read from the regeneration again."""

    def __init__(self, url: str, reporting: ReportingConfig, col: Column) -> None:
        self.url, self.reporting, self.col = url, reporting, col
        self.base: Uptake | None = None
        self.base_made = 0.0
        self.value: ColumnOut | str | None = None  # str: why there is none (historian unavailable)
        self.read_at = 0.0
        self.task: asyncio.Task[ColumnOut | str] | None = None
        self.epoch = 0  # forget() moves it on: a read begun before is not kept

    def read(self) -> ColumnOut | str:
        """One read now, in this thread (get() runs it in a worker thread)."""
        now = utcnow()
        hold = self.reporting.max_hold_s
        try:
            with psycopg.connect(self.url, connect_timeout=10, autocommit=True) as conn:
                if time.monotonic() - self.base_made > RECOUNT_S:
                    self.base, self.base_made = None, time.monotonic()
                regen = last_regeneration(conn, self.col.name, now)
                settled = now - timedelta(seconds=SETTLE_S)
                if regen is not None and regen.at < settled:
                    self.base = since_regeneration(conn, self.col, hold, regen.at, settled, self.base)
                return column_out(column_state(conn, self.col, hold, now, self.base), self.col)
        except psycopg.Error as exc:
            return f"historian unavailable: {exc}"

    async def _run(self) -> ColumnOut | str:
        epoch = self.epoch
        value = await asyncio.to_thread(self.read)
        if epoch == self.epoch:
            self.value, self.read_at = value, time.monotonic()
        return value

    async def get(self) -> ColumnOut | str:
        if self.task is None or self.task.done():
            if self.value is None:
                self.task = asyncio.create_task(self._run())
                return await asyncio.shield(self.task)
            if time.monotonic() - self.read_at > READ_S:
                self.task = asyncio.create_task(self._run())
        elif self.value is None:
            return await asyncio.shield(self.task)
        assert self.value is not None
        return self.value

    def forget(self) -> None:
        """After a regeneration: the next get() reads afresh."""
        self.value, self.base, self.task = None, None, None
        self.epoch += 1


def column_config(ctx: ApiContext) -> tuple[ReportingConfig, Column] | None:
    rep = ctx.runtime.config.reporting
    return None if rep is None or rep.column is None else (rep, rep.column)


def column_reader(request: Request, ctx: ApiContext) -> ColumnReader | None:
    """The app's one reader; None without a column in the plant file or without a plant database."""
    found = column_config(ctx)
    url = ctx.settings.database_url
    if found is None or not url:
        return None
    kept: Any = getattr(request.app.state, "column_reader", None)
    if isinstance(kept, ColumnReader) and kept.col is found[1]:
        return kept
    reader = request.app.state.column_reader = ColumnReader(str(url), *found)
    return reader


def _no_column(ctx: ApiContext) -> ApiProblem:
    if column_config(ctx) is None:
        return ApiProblem(404, "no-column", "No sorbent column",
                          "the plant file's reporting: section names no column: (docs/reports.md)")
    return ApiProblem(503, "no-database", "No plant database", "the service runs without a plant database")


@router.get("", summary="The column's loading since its last regeneration and its time to breakthrough (viewer); "
            "read at most every 15 s", responses=problem_responses(503))
async def column(request: Request, ctx: Ctx, _user: Viewer) -> ColumnOut:
    reader = column_reader(request, ctx)
    if reader is None:
        raise _no_column(ctx)
    got = await reader.get()
    if isinstance(got, str):
        raise ApiProblem(503, "historian-unavailable", "Historian unavailable", got)
    return got


class RegenerationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "at": "2026-03-02T06:40:00Z", "comment": "acid wash and rinse, 3 BV"}]})
    at: AwareDatetime | None = Field(default=None, description="when the bed came back on line; default now")
    comment: str = Field(default="", max_length=500, pattern=NO_NUL)


class RegenerationOut(BaseModel):
    column: str
    at: datetime
    by: str
    loaded_kg_before: float | None = Field(description="the loading the regeneration cleared, as last read")
    note: NoteOut | None = Field(description="the logbook note saying so; None: see warning")
    warning: str = ""


@router.post("/regenerated", status_code=201, responses=problem_responses(422, 503),
             summary="Record that the bed was regenerated (operator): audited as column_regenerated, noted in the "
             "logbook; the loading counts from `at` again")
async def regenerated(body: RegenerationIn, request: Request, ctx: Ctx, user: Operator) -> RegenerationOut:
    reader = column_reader(request, ctx)
    if reader is None:
        raise _no_column(ctx)
    now = utcnow()
    at = now if body.at is None else body.at
    if at > now + timedelta(seconds=60):
        raise ApiProblem(422, "validation", "Regeneration in the future",
                         f"at {at.isoformat()} is later than now: record a regeneration once it is done")
    if at < now - MAX_BACKDATE:
        raise ApiProblem(422, "validation", "Regeneration too long ago",
                         f"at {at.isoformat()} is more than {MAX_BACKDATE.days} days ago; ask an engineer to "
                         "correct the record")
    before = reader.value.loaded_kg if isinstance(reader.value, ColumnOut) else None
    col = reader.col.name
    try:
        await ctx.audit.record(user.username, AuditAction.COLUMN_REGENERATED, col,
                               None if before is None else {"loaded_kg": round(before, 3)},
                               {"at": at.isoformat()}, client_ip(request),
                               {"comment": body.comment} if body.comment else None)
    except AuditNotDurableError as exc:
        raise ApiProblem(503, "audit-unavailable", "Audit trail unavailable",
                         f"the regeneration was not recorded because it could not be audited ({exc})") from None
    reader.forget()
    text = f"{col} regenerated, back on line {at:%Y-%m-%d %H:%M} UTC" + (f": {body.comment}" if body.comment else "")
    try:
        note: NoteOut | None = note_out(await logbook(ctx).add(user.username, text, client_ip(request)))
        warning = ""
    except AuditNotDurableError as exc:
        note, warning = None, f"recorded, but the logbook note could not be audited ({exc}); write it by hand"
    return RegenerationOut(column=col, at=at, by=user.username, loaded_kg_before=before, note=note, warning=warning)
