"""Wire shapes shared by several routers: a value with its quality, unit and aware-UTC time."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from plantctl.quality import Quality
from plantctl.samples import Sample

NO_NUL = r"^[^\x00]*$"
"""Text that reaches PostgreSQL must not hold NUL characters (text columns refuse them)."""


class QualityOut(BaseModel):
    code: int = Field(ge=0, le=255, description="OPC DA quality byte (192 = good)")
    name: str = Field(description="e.g. GOOD, BAD_COMM_FAILURE")
    reason: str = Field(description="why it is not good, in plain words ('good' when good)")
    good: bool


class SampleOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "tag": "AIT-101", "value": 7.42, "unit": "pH", "ts": "2026-11-27T23:10:00.250000Z",
        "quality": {"code": 192, "name": "GOOD", "reason": "good", "good": True}}]})

    tag: str
    value: float | None = Field(description="engineering value; null when not a finite number")
    unit: str
    ts: datetime = Field(description="acquisition time, aware UTC")
    quality: QualityOut


def quality_out(q: Quality, reason: str = "") -> QualityOut:
    return QualityOut(code=int(q), name=q.name, reason=reason or q.reason, good=q.is_good)


def sample_out(s: Sample, unit: str) -> SampleOut:
    value = s.value if s.value == s.value and abs(s.value) != float("inf") else None
    return SampleOut(tag=s.tag, value=value, unit=unit, ts=s.ts, quality=quality_out(s.quality, s.reason))
