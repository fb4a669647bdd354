"""Discharge reports: list what is filed, download it, file one now (engineer)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel

from api.auth.deps import Ctx, Engineer, Viewer
from api.errors import ApiProblem, problem_responses
from plantctl.reports.compute import ReportError
from plantctl.reports.generate import FORMATS, make_and_file, period_for
from plantctl.reports.store import FiledReport, list_reports, read_report

router = APIRouter(prefix="/api/v1/reports", tags=["reports"], responses=problem_responses(401, 403, 422))
Kind = Literal["daily", "monthly"]
Format = Literal["pdf", "csv"]
PeriodKey = Annotated[str, Path(pattern=r"^\d{4}-\d{2}(-\d{2})?$", description="YYYY-MM-DD (daily) or YYYY-MM")]
_MEDIA = {"pdf": "application/pdf", "csv": "text/csv; charset=utf-8"}


class FiledReportOut(BaseModel):
    kind: str
    period: str
    format: str
    revision: int
    sha256: str
    size: int
    generated_at: datetime
    generated_by: str


def _out(f: FiledReport) -> FiledReportOut:
    return FiledReportOut(kind=f.kind, period=f.period, format=f.format, revision=f.revision, sha256=f.sha256,
                          size=f.size, generated_at=f.generated_at, generated_by=f.generated_by)


def _url(ctx: Any) -> str:
    url = ctx.settings.database_url
    if not url:
        raise ApiProblem(503, "no-database", "No database", "the service runs without a plant database")
    return str(url)


@router.get("", summary="Filed discharge reports, newest period first, every revision (viewer)")
async def list_filed(ctx: Ctx, _user: Viewer,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[FiledReportOut]:
    def read() -> list[FiledReport]:
        with psycopg.connect(_url(ctx), connect_timeout=10) as conn:
            return list_reports(conn, limit)

    return [_out(f) for f in await asyncio.to_thread(read)]


@router.get("/{kind}/{period}.{fmt}", summary="One filed report's bytes, the latest revision unless named (viewer)",
            response_class=Response, responses=problem_responses(404))
async def download(kind: Kind, period: PeriodKey, fmt: Format, ctx: Ctx, _user: Viewer,
                   revision: Annotated[int | None, Query(ge=1)] = None) -> Response:
    def read() -> tuple[FiledReport, bytes] | None:
        with psycopg.connect(_url(ctx), connect_timeout=10) as conn:
            return read_report(conn, kind, period, fmt, revision)

    got = await asyncio.to_thread(read)
    if got is None:
        raise ApiProblem(404, "no-report", "No such report", f"no {kind} {fmt} report for {period} is filed")
    filed, content = got
    name = f"{kind}-{period}-r{filed.revision}.{fmt}"
    return Response(content, media_type=_MEDIA[fmt], headers={
        "content-disposition": f'attachment; filename="{name}"', "x-content-sha256": filed.sha256})


@router.post("/{kind}/{period}", summary="Compute and file a report now (engineer); identical bytes are not "
             "filed twice, changed data adds a revision", responses=problem_responses(409))
async def file_now(kind: Kind, period: PeriodKey, ctx: Ctx, user: Engineer) -> list[FiledReportOut]:
    plant = ctx.runtime.config
    try:
        period_for(plant, kind, period)
    except ValueError as exc:
        raise ApiProblem(422, "validation", "Bad report period", str(exc)) from None

    def make() -> list[FiledReport]:
        with psycopg.connect(_url(ctx), connect_timeout=10, autocommit=True) as conn:
            return make_and_file(conn, plant, kind, period, FORMATS, generated_by=user.username)

    try:
        return [_out(f) for f in await asyncio.to_thread(make)]
    except ReportError as exc:
        raise ApiProblem(409, "no-reporting", "Reporting not configured", str(exc)) from None
