"""The unit of data that flows from connectors to every consumer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from plantctl.quality import Quality


@dataclass(frozen=True, slots=True)
class Sample:
    """One measured value of one tag; `ts` is always timezone-aware UTC."""

    tag: str
    ts: datetime
    value: float
    quality: Quality = Quality.GOOD
    reason: str = ""  # why the quality is not Good (e.g. the device's exception), "" when Good

    def __post_init__(self) -> None:
        if self.ts.tzinfo is None:
            raise ValueError(f"sample for {self.tag!r} has a naive timestamp; use aware UTC")


def utcnow() -> datetime:
    return datetime.now(UTC)


SampleBatch = list[Sample]
