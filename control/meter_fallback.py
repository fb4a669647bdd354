"""A flow loop's fall-back when its flowmeter cannot be believed: the pump runs on its calibration.

A reagent-flow loop on a Bad or stale meter would otherwise hold its last speed and then stop the
pump (the ordinary fail-safe), and on a meter frozen at a Good value its integral drives the pump to
a limit: either way the pH loop above loses its actuator. Instead the loop is handed the flow its
pump delivers by calibration (speed × flow per %), marked Uncertain with the reason; the PID then
settles the speed at setpoint ÷ calibration — the cascade runs open-loop on the pump's curve, and the
pH loop's integral absorbs a worn pump. A frozen meter is caught by the inner-loop deviation: the
reading has not moved at all while the speed moved. When the meter is usable again for `return_s`
(and moving, after a freeze) the loop goes back to it from the same integral: bumpless.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime

from control.events import EventSink, LoopEvent, LoopEventKind
from plantctl.config.models import MeterFallbackConfig
from plantctl.quality import Quality
from plantctl.samples import Sample


class MeterFallback:
    """Watches one flow loop's meter and, while it is unusable or frozen, infers its flow from the speed."""

    def __init__(self, loop: str, meter: str, pump: str, cfg: MeterFallbackConfig, stale_after_s: float,
                 events: EventSink) -> None:
        self.loop = loop
        self.meter = meter
        self.pump = pump
        self.cfg = cfg
        self.stale_after_s = stale_after_s
        self._emit = events
        self._latest: Sample | None = None
        self._readings: deque[tuple[datetime, float]] = deque()  # (received, value) of usable readings
        self._speeds: deque[tuple[datetime, float]] = deque()  # (now, loop output %) each period
        self.active = False
        self.reason = ""
        self._frozen = False
        self._usable_since: datetime | None = None
        self._moved_at: datetime | None = None  # first change of the reading since the fall-back began

    def on_sample(self, sample: Sample) -> None:
        if sample.tag != self.meter:
            return
        if not sample.quality.is_bad:
            at = sample.received or sample.ts
            if self.active and self._moved_at is None and self._readings and self._readings[-1][1] != sample.value:
                self._moved_at = at
            self._readings.append((at, sample.value))
        self._latest = sample

    def _trim(self, now: datetime) -> None:
        """Keep the last frozen_s of both series, plus one value at or before the window's start."""
        for series in (self._readings, self._speeds):
            while len(series) > 1 and (now - series[1][0]).total_seconds() >= self.cfg.frozen_s:
                series.popleft()

    def _span(self, series: deque[tuple[datetime, float]], now: datetime) -> float | None:
        """Movement of a series over the last frozen_s (None when it does not yet cover the window)."""
        if not series or (now - series[0][0]).total_seconds() < self.cfg.frozen_s:
            return None
        values = [v for _t, v in series]
        return max(values) - min(values)

    def _frozen_now(self, now: datetime) -> bool:
        """The meter has not moved in frozen_s while the speed moved by moved_pct: it is not following the pump."""
        meter_span = self._span(self._readings, now)
        speed_span = self._span(self._speeds, now)
        return meter_span is not None and speed_span is not None and meter_span == 0.0 \
            and speed_span >= self.cfg.moved_pct

    def substitute(self, now: datetime, speed_pct: float) -> Sample | None:
        """Before the loop's period: the inferred flow to control on, or None when the meter is to be used.
        `speed_pct` is the loop's applied output (the average speed while pulsing)."""
        self._speeds.append((now, speed_pct))
        self._trim(now)
        smp = self._latest
        why = "has no value" if smp is None else smp.why_unusable(now, self.stale_after_s)
        frozen = why is None and self._frozen_now(now)
        if frozen and smp is not None:
            why = (f"has not moved from {smp.value:g} for {self.cfg.frozen_s:g} s while the pump speed moved "
                   f"{self.cfg.moved_pct:g} % or more (frozen transmitter, or no flow at all: air lock?)")
        if why is not None:
            self._usable_since = self._moved_at = None
            self._frozen = self._frozen or frozen
            if not self.active:
                self.active = True
                self.reason = f"{self.meter} {why}"
                self._event(now, LoopEventKind.METER_FALLBACK,
                            f"{self.reason}: {self.pump} driven on its calibration "
                            f"({self.cfg.flow_per_pct:g} per % speed) until the meter is usable again")
        elif self.active:
            if self._usable_since is None:
                self._usable_since = now
            since = self._usable_since if not self._frozen else \
                None if self._moved_at is None else max(self._usable_since, self._moved_at)  # moving again
            if since is not None and (now - since).total_seconds() >= self.cfg.return_s:
                after_freeze = self._frozen
                self.active, self._frozen, self.reason = False, False, ""
                self._speeds.clear()
                self._event(now, LoopEventKind.METER_RESTORED,
                            f"{self.meter} usable{' and moving' if after_freeze else ''} again for "
                            f"{self.cfg.return_s:g} s: back on the meter from the same integral")
        if not self.active:
            return None
        return Sample(self.meter, now, speed_pct * self.cfg.flow_per_pct, Quality.UNCERTAIN,
                      f"inferred from {self.pump} speed {speed_pct:.1f} % x {self.cfg.flow_per_pct:g} "
                      f"({self.reason})")

    def _event(self, now: datetime, kind: LoopEventKind, reason: str) -> None:
        self._emit(LoopEvent(now, self.loop, kind, reason, data={"meter": self.meter}))
