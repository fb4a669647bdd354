"""Alarm detection per type (limit, deviation, rate, bad quality, discrete) with deadband and on/off delay.

A detector turns one sample into the raw condition (None: cannot tell, hold); the debouncer
applies the on-delay and off-delay (OPC UA Part 9 §5.8.2 OnDelay/OffDelay; ISA-18.2 detailed
design: deadband and delays against chattering) and says when the condition changed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta

from plantctl.config.models import AlarmConfig, AlarmType, TagConfig
from plantctl.config.plausibility import good_band, judge
from plantctl.quality import Quality

SetpointProvider = Callable[[str], float | None]
"""The setpoint of a loop by name, in the PV's engineering unit; None while unknown."""


def _no_setpoint(_loop: str) -> float | None:
    return None


class Detector:
    """Raw condition from one sample; hysteresis by deadband keeps a noisy value from chattering."""

    __slots__ = ("deadband", "limit", "raw")

    def __init__(self, limit: float, deadband: float) -> None:
        self.limit = limit
        self.deadband = deadband
        self.raw = False

    def evaluate(self, value: float, quality: Quality, ts: datetime) -> bool | None:
        raise NotImplementedError


class HighLimit(Detector):
    """Active at value ≥ limit; clears only below limit − deadband."""

    __slots__ = ()

    def evaluate(self, value: float, quality: Quality, ts: datetime) -> bool | None:
        if quality.is_bad:
            return None
        self.raw = value >= (self.limit - self.deadband if self.raw else self.limit)
        return self.raw


class LowLimit(Detector):
    """Active at value ≤ limit; clears only above limit + deadband."""

    __slots__ = ()

    def evaluate(self, value: float, quality: Quality, ts: datetime) -> bool | None:
        if quality.is_bad:
            return None
        self.raw = value <= (self.limit + self.deadband if self.raw else self.limit)
        return self.raw


class Deviation(Detector):
    """Active when |PV − SP| ≥ limit (OPC UA Part 9 ExclusiveDeviationAlarmType); SP from the loop."""

    __slots__ = ("loop", "setpoint")

    def __init__(self, limit: float, deadband: float, loop: str, setpoint: SetpointProvider) -> None:
        super().__init__(limit, deadband)
        self.loop = loop
        self.setpoint = setpoint

    def evaluate(self, value: float, quality: Quality, ts: datetime) -> bool | None:
        if quality.is_bad:
            return None
        sp = self.setpoint(self.loop)
        if sp is None:
            return None
        self.raw = abs(value - sp) >= (self.limit - self.deadband if self.raw else self.limit)
        return self.raw


class RateOfChange(Detector):
    """|dPV/dt| ≥ limit in EU/min between consecutive usable samples (Part 9 ExclusiveRateOfChangeAlarmType)."""

    __slots__ = ("last_ts", "last_value")

    def __init__(self, limit: float, deadband: float) -> None:
        super().__init__(limit, deadband)
        self.last_ts: datetime | None = None
        self.last_value = 0.0

    def evaluate(self, value: float, quality: Quality, ts: datetime) -> bool | None:
        if quality.is_bad:
            return None
        last_ts, last_value = self.last_ts, self.last_value
        self.last_ts, self.last_value = ts, value
        if last_ts is None:
            return None
        minutes = (ts - last_ts).total_seconds() / 60.0
        if minutes <= 0:
            return None
        rate = abs(value - last_value) / minutes
        self.raw = rate >= (self.limit - self.deadband if self.raw else self.limit)
        return self.raw


class BadQuality(Detector):
    """Active while the measurement's quality is Bad (OPC DA quality class 0b00)."""

    __slots__ = ()

    def evaluate(self, value: float, quality: Quality, ts: datetime) -> bool | None:
        self.raw = quality.is_bad
        return self.raw


class Discrete(Detector):
    """Active while a discrete signal equals the alarm value (e.g. a pump fault bit = 1)."""

    __slots__ = ()

    def evaluate(self, value: float, quality: Quality, ts: datetime) -> bool | None:
        if quality.is_bad:
            return None
        self.raw = round(value) == round(self.limit)
        return self.raw


class OutOfRange(Detector):
    """Diagnostic: active while the value read is implausible for the tag's range (the connectors' range check).

    A link or device fault (Bad with its own reason, value NaN) says nothing about the decoding: hold.
    """

    __slots__ = ("band_high", "band_low", "tag", "tiny")

    def __init__(self, tag: TagConfig) -> None:
        super().__init__(0.0, 0.0)
        self.tag = tag
        self.band_low, self.band_high, self.tiny = good_band(tag)

    def evaluate(self, value: float, quality: Quality, ts: datetime) -> bool | None:
        if (quality.is_bad and quality is not Quality.BAD) or math.isnan(value):
            return None
        if self.band_low <= value <= self.band_high and (value == 0 or abs(value) >= self.tiny):
            self.raw = False  # the common case, without building judge()'s reason
        else:
            self.raw = not judge(self.tag, value)[0].is_good
        return self.raw


RANGE_ALARM_PREFIX = "SYS.RANGE."
"""The service's diagnostic range alarms are named SYS.RANGE.<tag>: in the service's own namespace, which a plant
file may not use (plantctl.points), so they never collide with the plant's alarms."""


def range_alarm(tag: TagConfig) -> AlarmConfig:
    """The diagnostic range alarm every plant tag has unless the plant file declares one for it (type: range)."""
    return AlarmConfig.model_construct(  # built from a validated tag; a 60-character tag name may exceed TagName
        name=f"{RANGE_ALARM_PREFIX}{tag.name}", tag=tag.name, type=AlarmType.RANGE, priority=4,
        message=f"{tag.name} reads outside its range [{tag.range.low:g}, {tag.range.high:g}] {tag.unit}: "
                "check the scaling, byte/word order, data type or register numbering (plantctl probe)")


def detector_for(cfg: AlarmConfig, setpoint: SetpointProvider | None = None,
                 tag: TagConfig | None = None) -> Detector:
    """Build the detector an alarm definition asks for (`tag`: the alarmed tag, which a range alarm needs)."""
    limit = cfg.limit if cfg.limit is not None else 1.0
    if cfg.type is AlarmType.RANGE:
        if tag is None:
            raise ValueError(f"range alarm {cfg.name!r}: tag {cfg.tag!r} is not configured")
        return OutOfRange(tag)
    if cfg.type in (AlarmType.HH, AlarmType.H):
        return HighLimit(limit, cfg.deadband)
    if cfg.type in (AlarmType.LL, AlarmType.L):
        return LowLimit(limit, cfg.deadband)
    if cfg.type is AlarmType.DEVIATION:
        assert cfg.loop is not None  # AlarmConfig guarantees it
        return Deviation(limit, cfg.deadband, cfg.loop, setpoint or _no_setpoint)
    if cfg.type is AlarmType.RATE_OF_CHANGE:
        return RateOfChange(limit, cfg.deadband)
    if cfg.type is AlarmType.BAD_QUALITY:
        return BadQuality(limit, 0.0)
    return Discrete(limit, 0.0)


class Debouncer:
    """On-delay / off-delay: the raw condition must hold continuously for the delay before it counts.

    Between samples the last raw condition is taken to persist (report-by-exception sources send
    nothing while a value is steady), so `due(now)` can complete a delay without a new sample.
    """

    __slots__ = ("off_delay", "on", "on_delay", "pending_since")

    def __init__(self, on_delay_s: float, off_delay_s: float) -> None:
        self.on_delay = timedelta(seconds=on_delay_s)
        self.off_delay = timedelta(seconds=off_delay_s)
        self.on = False
        self.pending_since: datetime | None = None

    def observe(self, raw: bool | None, ts: datetime) -> datetime | None:
        """Feed one raw condition; returns when the debounced condition flipped, else None."""
        if raw is None:
            return None
        if raw == self.on:
            self.pending_since = None
            return None
        if self.pending_since is None:
            self.pending_since = ts
        return self.due(ts)

    def due(self, now: datetime) -> datetime | None:
        """Complete a pending change whose delay has run out by `now`; returns the flip time."""
        since = self.pending_since
        if since is None:
            return None
        at = since + (self.off_delay if self.on else self.on_delay)
        if now < at:
            return None
        self.on = not self.on
        self.pending_since = None
        return at

    @property
    def pending_until(self) -> datetime | None:
        if self.pending_since is None:
            return None
        return self.pending_since + (self.off_delay if self.on else self.on_delay)


def suppression_test(below: float | None, above: float | None) -> Callable[[float, Quality], bool]:
    """Designed-suppression predicate (ISA-18.2 §12); a Bad value never suppresses: fail visible."""

    def test(value: float, quality: Quality) -> bool:
        if quality.is_bad:
            return False
        return (below is not None and value < below) or (above is not None and value > above)

    return test
