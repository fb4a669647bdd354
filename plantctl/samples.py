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
    received: datetime | None = None
    """When plantctl received it, where `ts` is the device's or server's stamp (None: `ts` is the receipt time)."""

    def __post_init__(self) -> None:
        if self.ts.tzinfo is None:
            raise ValueError(f"sample for {self.tag!r} has a naive timestamp; use aware UTC")
        if self.received is not None and self.received.tzinfo is None:
            raise ValueError(f"sample for {self.tag!r} has a naive receipt time; use aware UTC")

    def age_s(self, now: datetime) -> float:
        """Seconds since plantctl received the value: a PLC's old or future stamp must not decide staleness."""
        return (now - (self.received or self.ts)).total_seconds()

    def why_unusable(self, now: datetime, stale_after_s: float) -> str | None:
        """Why a controller must not act on this value ("bad (…)" or "stale (…)"), None when it may: the one
        judgement of Bad quality and receipt-time staleness that loops, votes and diversion share."""
        if self.quality.is_bad:
            return f"bad ({self.reason or self.quality.reason})"
        age = self.age_s(now)
        if age > stale_after_s:
            return f"stale ({age:.1f} s old, limit {stale_after_s:g} s)"
        return None

    def usable(self, now: datetime, stale_after_s: float) -> bool:
        """Not Bad and received within stale_after_s (Uncertain is usable: it is flagged, not wrong)."""
        return self.why_unusable(now, stale_after_s) is None


def utcnow() -> datetime:
    return datetime.now(UTC)


SampleBatch = list[Sample]
