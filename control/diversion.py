"""Diversion: discharge pH → outfall or divert (to equalisation / a holding tank), so off-spec water
never reaches the outfall while the plant has somewhere to send it.

The rule is asymmetric on purpose. Diverting is immediate, in the same period, and has no dwell:
water outside the divert band (set inside the permit, so the valve's travel and the pipe between
the probe and the valve are covered) or a discharge pH that is Bad or stale (unknown is off-spec)
goes to divert at once. Returning to the outfall needs all of: a minimum dwell in diversion
(`min_divert_s`, the valve and the pipe's content), and the pH Good and inside the narrower
return band for `return_s` without a break — the hysteresis that keeps the valve from chattering
on a pH hovering near a limit. "Nowhere to send it" (the holding tank full while diversion is
needed) is its own state, raised at once for alarming and to stop the feed; diverted volume and
volume that had nowhere to go are counted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from plantctl.samples import Sample


class DiversionState(StrEnum):
    OUTFALL = "outfall"  # in spec: to the outfall
    DIVERTING = "diverting"  # off spec (or unknown): to equalisation / holding
    NOWHERE = "nowhere"  # diversion needed but the holding tank is full: alarm, stop the feed


@dataclass(frozen=True, slots=True)
class DiversionSettings:
    """Bands in pH, times in seconds, holding level in %."""

    divert_low_ph: float = 6.2  # divert below this...
    divert_high_ph: float = 8.8  # ...or above this (inside the 6-9 permit)
    return_low_ph: float = 6.5  # return only inside this narrower band...
    return_high_ph: float = 8.5
    return_s: float = 120.0  # ...held without a break for this long
    min_divert_s: float = 300.0  # and never sooner than this after diverting
    stale_after_s: float = 10.0
    holding_full_pct: float = 95.0  # holding tank full at or above this level...
    holding_room_pct: float = 90.0  # ...and has room again at or below this

    def __post_init__(self) -> None:
        if not self.divert_low_ph <= self.return_low_ph < self.return_high_ph <= self.divert_high_ph:
            raise ValueError("the return band must lie inside the divert band (that is the hysteresis)")
        if not self.holding_room_pct < self.holding_full_pct:
            raise ValueError("holding_room_pct must be below holding_full_pct")


@dataclass(frozen=True, slots=True)
class DiversionEvent:
    ts: datetime
    old: DiversionState
    new: DiversionState
    reason: str


class DiversionController:
    """Decides each period where the discharge goes, with hysteresis, a dwell and a return-to-normal rule."""

    def __init__(self, settings: DiversionSettings | None = None,
                 events: Callable[[DiversionEvent], None] | None = None) -> None:
        self.settings = settings or DiversionSettings()
        self._emit = events or (lambda _e: None)
        self.state = DiversionState.DIVERTING  # start safe: the outfall is earned by a good reading
        self._diverted_at: datetime | None = None
        self._in_return_band_since: datetime | None = None
        self._holding_full = False
        self.diverted_l = 0.0
        self.nowhere_l = 0.0
        self.outfall_l = 0.0
        self.valve_moves = 0

    @property
    def divert(self) -> bool:
        """The valve command: True sends the discharge away from the outfall."""
        return self.state is not DiversionState.OUTFALL

    @property
    def holding_full(self) -> bool:
        """The holding tank counts as full (or its level is unknown)."""
        return self._holding_full

    @property
    def stop_feed(self) -> bool:
        """True while off-spec water has nowhere to go: the plant must stop the influent."""
        return self.state is DiversionState.NOWHERE

    def update(self, now: datetime, discharge_ph: Sample | None, flow_l_s: float, dt_s: float,
               holding_level_pct: float | None) -> DiversionState:
        """One period: judge the discharge pH and the holding tank; count this period's volume."""
        s = self.settings
        off_spec, why = self._off_spec(now, discharge_ph)
        if holding_level_pct is None or holding_level_pct >= s.holding_full_pct:
            self._holding_full = True
        elif holding_level_pct <= s.holding_room_pct:
            self._holding_full = False
        if self._diverted_at is None:
            self._diverted_at = now
        if off_spec:
            self._in_return_band_since = None
            if self._holding_full:
                where = "unknown" if holding_level_pct is None else f"{holding_level_pct:g} %"
                self._go(now, DiversionState.NOWHERE, f"{why}, and the holding tank is full ({where}): stop the feed")
            else:
                self._go(now, DiversionState.DIVERTING, why)
        elif self.state is not DiversionState.OUTFALL:
            assert discharge_ph is not None
            if self.state is DiversionState.NOWHERE and not self._holding_full:
                self._go(now, DiversionState.DIVERTING, "holding tank has room again")
            if s.return_low_ph <= discharge_ph.value <= s.return_high_ph and discharge_ph.quality.is_good:
                if self._in_return_band_since is None:
                    self._in_return_band_since = now
            else:
                self._in_return_band_since = None
            held = (now - self._in_return_band_since).total_seconds() if self._in_return_band_since else 0.0
            dwelt = (now - self._diverted_at).total_seconds()
            if held >= s.return_s and dwelt >= s.min_divert_s:
                self._go(now, DiversionState.OUTFALL,
                         f"discharge pH {discharge_ph.value:g} within {s.return_low_ph:g}-{s.return_high_ph:g} "
                         f"for {held:.0f} s, {dwelt:.0f} s after diverting")
        volume = max(flow_l_s, 0.0) * dt_s
        if self.state is DiversionState.OUTFALL:
            self.outfall_l += volume
        elif self.state is DiversionState.DIVERTING:
            self.diverted_l += volume
        else:
            self.nowhere_l += volume
        return self.state

    def _off_spec(self, now: datetime, smp: Sample | None) -> tuple[bool, str]:
        s = self.settings
        if smp is None:
            return True, "no discharge pH yet"
        if smp.quality.is_bad:
            return True, f"discharge pH bad ({smp.reason or smp.quality.reason})"
        age = smp.age_s(now)
        if age > s.stale_after_s:
            return True, f"discharge pH stale ({age:.0f} s old)"
        if smp.value < s.divert_low_ph:
            return True, f"discharge pH {smp.value:g} below {s.divert_low_ph:g}"
        if smp.value > s.divert_high_ph:
            return True, f"discharge pH {smp.value:g} above {s.divert_high_ph:g}"
        return False, ""

    def _go(self, now: datetime, new: DiversionState, reason: str) -> None:
        old = self.state
        if new is old:
            return
        if old is DiversionState.OUTFALL:
            self._diverted_at = now
            self.valve_moves += 1
        elif new is DiversionState.OUTFALL:
            self.valve_moves += 1
        self.state = new
        self._emit(DiversionEvent(now, old, new, reason))
