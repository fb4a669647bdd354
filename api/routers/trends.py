"""Trends: bucketed min/max/avg/first/last per tag, from the historian's rollups or raw samples; CSV export."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth.deps import Ctx, Viewer
from api.context import ApiContext
from api.errors import ApiProblem, problem_responses
from api.timerange import ApiDateTime
from plantctl.historian import queries

router = APIRouter(prefix="/api/v1/trends", tags=["trends"], responses=problem_responses(401, 403, 404, 422))

MAX_TAGS = 16
MAX_POINTS = 10_000


class BucketOut(BaseModel):
    ts: datetime = Field(description="bucket start, aware UTC")
    min: float | None
    max: float | None
    avg: float | None
    first: float | None
    last: float | None
    count: int = Field(description="samples in the bucket, any quality")
    good_count: int = Field(description="Good-quality samples, over which min/max/avg/first/last are taken")


class SeriesOut(BaseModel):
    tag: str
    unit: str
    source: Literal["raw", "1m", "1h", "1m+raw", "1h+raw"] = Field(
        description="where the buckets came from; '1h+raw': the hour rollup up to its last final bucket, raw after")
    bucket_s: float = Field(description="bucket width, seconds")
    start: datetime
    end: datetime
    buckets: list[BucketOut]


class TrendOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"series": [{
        "tag": "AIT-101", "unit": "pH", "source": "1m", "bucket_s": 3600.0, "start": "2026-11-26T00:00:00Z",
        "end": "2026-11-27T00:00:00Z", "buckets": [{"ts": "2026-11-26T00:00:00Z", "min": 7.1, "max": 7.9,
                                                     "avg": 7.48, "first": 7.3, "last": 7.5, "count": 3600,
                                                     "good_count": 3600}]}]}]})

    series: list[SeriesOut]


TagsQ = Annotated[list[str], Query(min_length=1, description="one or more tags (repeat or comma-separate)",
                                   examples=["AIT-101"])]
StartQ = Annotated[ApiDateTime, Query(description="range start, ISO 8601 with a time zone",
                                        examples=["2026-11-26T00:00:00Z"])]
EndQ = Annotated[ApiDateTime, Query(description="range end (exclusive), ISO 8601 with a time zone",
                                      examples=["2026-11-27T00:00:00Z"])]
PointsQ = Annotated[int, Query(ge=1, le=MAX_POINTS, description="about how many buckets per tag")]
SourceQ = Annotated[Literal["auto", "raw", "1m", "1h"], Query(
    description="auto: rollups when they cover the range, else raw; or force one (for comparison)")]


def _tags(ctx: ApiContext, tags: list[str]) -> list[str]:
    names = list(dict.fromkeys(n.strip() for item in tags for n in item.split(",") if n.strip()))
    if not names:
        raise ApiProblem(422, "validation", "No tag", "name at least one tag")
    if len(names) > MAX_TAGS:
        raise ApiProblem(422, "validation", "Too many tags", f"at most {MAX_TAGS} tags per trend, not {len(names)}")
    known = ctx.runtime.tags
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ApiProblem(404, "unknown-tag", "Unknown tag",
                         f"no tag {', '.join(map(repr, unknown))} in the plant file nor announced by a source")
    return names


async def load_trend(ctx: ApiContext, tags: list[str], start: datetime, end: datetime, points: int,
                     source: str) -> TrendOut:
    names = _tags(ctx, tags)
    if not start < end:
        raise ApiProblem(422, "validation", "Empty range",
                         f"start {start.isoformat()} is not before end {end.isoformat()}")
    if end - start > timedelta(days=366 * 20):
        raise ApiProblem(422, "validation", "Range too long", "a trend spans at most 20 years")
    width = queries.nice_width(end - start, points)
    if source in ("1m", "1h") and width % (timedelta(minutes=1) if source == "1m" else timedelta(hours=1)):
        raise ApiProblem(422, "validation", "Rollup too coarse",
                         f"{points} points over this range need {width.total_seconds():g} s buckets, "
                         f"finer than the {source} rollup")
    licensed = bool(getattr(ctx.runtime.historian, "licensed", False))
    series: list[dict[str, object]] = []
    async with ctx.pool.connection() as conn:
        for name in names:
            try:
                s = await queries.bucketed(conn, name, start, end, points,
                                           source=None if source == "auto" else source,  # type: ignore[arg-type]
                                           continuous=licensed)
            except queries.QueryError as exc:
                if "unknown tag" in str(exc):
                    raise ApiProblem(404, "no-history", "No history", f"{name} has no stored history yet") from None
                raise ApiProblem(422, "validation", "Bad trend request", str(exc)) from None
            series.append({
                "tag": s.tag, "unit": s.unit, "source": s.source, "bucket_s": s.width.total_seconds(),
                "start": s.start, "end": s.end,
                "buckets": [{"ts": b.start, "min": b.min, "max": b.max, "avg": b.avg, "first": b.first,
                             "last": b.last, "count": b.count, "good_count": b.good_count} for b in s.buckets]})
    return TrendOut.model_validate({"series": series})  # one validation pass in pydantic-core, not per bucket


@router.get("", summary="Bucketed trend of one or more tags over a time range", response_model=TrendOut)
async def trend(ctx: Ctx, _user: Viewer, tag: TagsQ, start: StartQ, end: EndQ, points: PointsQ = 1000,
                source: SourceQ = "auto") -> Response:
    out = await load_trend(ctx, tag, start, end, points, source)
    # Already validated: serialise once here instead of FastAPI validating thousands of buckets again.
    return Response(out.model_dump_json(), media_type="application/json")


@router.get("/csv", summary="The same trend as CSV (one row per tag and bucket)", response_class=Response,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                             "description": "tag,unit,ts,min,max,avg,first,last,count,good_count"}})
async def trend_csv(ctx: Ctx, _user: Viewer, tag: TagsQ, start: StartQ, end: EndQ, points: PointsQ = 1000,
                    source: SourceQ = "auto") -> Response:
    out = await load_trend(ctx, tag, start, end, points, source)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["tag", "unit", "ts", "min", "max", "avg", "first", "last", "count", "good_count"])
    for s in out.series:
        for b in s.buckets:
            w.writerow([s.tag, s.unit, b.ts.isoformat(), *("" if v is None else repr(v) for v in
                                                           (b.min, b.max, b.avg, b.first, b.last)),
                        b.count, b.good_count])
    return Response(buf.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="trend.csv"'})
