"""Drift-free periodic execution: absolute deadlines on the monotonic clock, missed periods counted.

Deadline k is t0 + k·period, never "last wake + period", so lateness does not accumulate; when a
tick overruns whole periods they are skipped and counted, not run in a burst to catch up.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from plantctl.clock import LOOP_CLOCK, Clock


@dataclass(frozen=True, slots=True)
class Tick:
    """One execution: its deadline and actual start (monotonic s), dt since the last tick, periods missed."""

    index: int
    deadline_s: float
    started_s: float
    dt_s: float
    missed: int

    @property
    def lateness_s(self) -> float:
        return self.started_s - self.deadline_s


class PeriodicSchedule:
    """The deadline arithmetic, apart from any event loop (pure, testable with a fake clock)."""

    def __init__(self, period_s: float, t0_s: float) -> None:
        if not period_s > 0:
            raise ValueError(f"period_s must be positive, got {period_s}")
        self.period_s = period_s
        self.t0_s = t0_s
        self.index = 0
        self.missed_total = 0
        self._last_start: float | None = None

    @property
    def next_deadline_s(self) -> float:
        return self.t0_s + self.index * self.period_s

    def begin(self, now_s: float) -> Tick:
        """Record the start of the tick due at next_deadline_s, then move to the next future deadline."""
        deadline = self.next_deadline_s
        dt = self.period_s if self._last_start is None else now_s - self._last_start
        self._last_start = now_s
        # the next deadline strictly after now; every deadline skipped on the way is a missed period
        next_index = max(self.index + 1, math.floor((now_s - self.t0_s) / self.period_s) + 1)
        missed = next_index - self.index - 1
        self.missed_total += missed
        tick = Tick(self.index, deadline, now_s, max(dt, 1e-9), missed)
        self.index = next_index
        return tick


async def run_periodic(period_s: float, work: Callable[[Tick], Awaitable[None] | None],
                       stop: asyncio.Event, clock: Clock = LOOP_CLOCK) -> PeriodicSchedule:
    """Call `work` every period_s on `clock` (the event loop's monotonic clock by default) until `stop` is set."""
    sched = PeriodicSchedule(period_s, clock.monotonic())
    while not stop.is_set():
        delay = sched.next_deadline_s - clock.monotonic()
        if delay > 0:
            if await _stopped_within(stop, delay, clock):
                break
            continue  # check again: an event loop may fire a timer up to its clock resolution early
        tick = sched.begin(clock.monotonic())
        result = work(tick)
        if result is not None:
            await result
    return sched


async def _stopped_within(stop: asyncio.Event, delay_s: float, clock: Clock) -> bool:
    """Sleep delay_s on the clock unless stop is set first; True when it was."""
    if stop.is_set():
        return True
    sleeper = asyncio.ensure_future(clock.sleep(delay_s))
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((sleeper, stopper), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sleeper, stopper):
            task.cancel()
        await asyncio.gather(sleeper, stopper, return_exceptions=True)
    return stop.is_set()
