"""Tag metadata: what each value means (unit, range, description, source, writable)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.auth.deps import Ctx, Viewer
from api.errors import ApiProblem, problem_responses
from plantctl.config.models import TagConfig, display_decimals

router = APIRouter(prefix="/api/v1/tags", tags=["tags"], responses=problem_responses(401, 403))


class RangeOut(BaseModel):
    low: float
    high: float


class TagOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "name": "AIT-101", "description": "T-101 pH (discharge)", "unit": "pH", "range": {"low": 0, "high": 14},
        "source": "PLC-1-OPCUA", "writable": False, "scan_period_s": 1.0, "deadband": 0.005, "decimals": 2}]})

    name: str
    description: str
    unit: str
    range: RangeOut
    source: str
    writable: bool
    scan_period_s: float
    deadband: float = Field(description="absolute, in the tag's unit")
    decimals: int = Field(description="decimals to show: the plant file's decimals:, else derived from the range")


def tag_out(t: TagConfig) -> TagOut:
    return TagOut(name=t.name, description=t.description, unit=t.unit, range=RangeOut(low=t.range.low,
                  high=t.range.high), source=t.source, writable=t.writable, scan_period_s=t.scan_period_s,
                  deadband=t.deadband, decimals=display_decimals(t))


def unknown_tag(name: str) -> ApiProblem:
    return ApiProblem(404, "unknown-tag", "Unknown tag",
                      f"no tag {name!r} in the plant file nor announced by a source (a fleet site's birth)")


@router.get("", summary="Every tag: the plant file's, then those sources announced (a fleet's <group>/<node>/<tag>)")
async def list_tags(ctx: Ctx, _user: Viewer) -> list[TagOut]:
    return [tag_out(t) for t in ctx.runtime.tags]


@router.get("/{name:path}", summary="One tag's metadata (a fleet tag's '/' as is)", responses=problem_responses(404))
async def get_tag(name: str, ctx: Ctx, _user: Viewer) -> TagOut:
    tag = ctx.runtime.tags.get(name)
    if tag is None:
        raise unknown_tag(name)
    return tag_out(tag)
