"""Runs a plant's loops on the event loop: samples in through a bus tap, outputs out through the write path.

Lifecycle as every component here: `start()` returns at once with one task per loop (each on its
own drift-free schedule), `stop()` cancels and awaits them. Writes go only through the `write`
callable the runtime passes (the write gate, with this loop as origin → the connector that owns the tag),
each bounded by the loop period so a hung link cannot stall the loop; failures become loop events, once per streak.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from control.events import EventSink, LoopEvent, LoopEventKind
from control.group import LoopGroup
from control.loop import OutputRequest
from control.points import ControlPoints
from control.scheduler import PeriodicSchedule, Tick, run_periodic
from control.state import LoopStateStore
from plantctl.samples import Sample
from plantctl.writes import WriteOutcome

log = logging.getLogger(__name__)

Write = Callable[[str, float], Awaitable[WriteOutcome]]

REWRITE_EVERY_S = 10.0  # an unchanged output is written again this often (refreshes the PLC's value)
PERSIST_EVERY_S = 10.0  # loop state is saved at least this often, and at once on a mode/setpoint change


class LoopRunner:
    """One task per loop: execute on schedule, write the requested outputs, persist state."""

    def __init__(self, group: LoopGroup, write: Write, events: EventSink,
                 store: LoopStateStore | None = None, points: ControlPoints | None = None) -> None:
        self.group = group
        self._points = points
        self._write = write
        self._events = events
        self._store = store
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[PeriodicSchedule]] = []
        self._last_written: dict[str, tuple[float, float]] = {}  # tag -> (value, monotonic time)
        self._failing: dict[str, str] = {}  # tag -> reason of the current failure streak
        self._last_saved: dict[str, tuple[str, float, float]] = {}  # loop -> (mode, setpoint, monotonic)
        self.missed_periods = 0
        self.write_failures = 0

    @property
    def written(self) -> dict[str, float]:
        """The last value accepted by the PLC for each output tag."""
        return {tag: v for tag, (v, _t) in self._last_written.items()}

    def tap(self, batch: list[Sample]) -> None:
        """Bus tap: hand every sample a loop needs to it (inline, returns at once)."""
        wanted = self.group.inputs
        for s in batch:
            if s.tag in wanted:
                self.group.on_sample(s)

    async def start(self) -> None:
        """Restore saved states, then start one scheduled task per loop."""
        now = datetime.now(UTC)
        if self._store is not None:
            for name, loop in self.group.loops.items():
                state = self._store.load(name)
                if state is not None:
                    loop.restore(state, now)
        self._stop.clear()
        for name in self.group.blocks:
            period = self.group.period_of(name)
            self._tasks.append(asyncio.create_task(run_periodic(period, self._work_for(name), self._stop),
                                                   name=f"loop {name}"))

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                sched = await task
                self.missed_periods += sched.missed_total
            except asyncio.CancelledError:
                pass
        self._tasks.clear()
        if self._store is not None:
            now = datetime.now(UTC)
            for loop in self.group.loops.values():
                self._store.save(loop.snapshot(now))

    def _work_for(self, name: str) -> Callable[[Tick], Awaitable[None]]:
        async def work(tick: Tick) -> None:
            now = datetime.now(UTC)
            if tick.missed:
                self.missed_periods += tick.missed
                log.warning("loop %s missed %d period(s): the event loop is overloaded", name, tick.missed)
            requests = self.group.execute_loop(name, now, tick.dt_s)
            if self._points is not None:  # votes, diversion, flow shortfall as system points (alarms)
                self._points.update(self.group, now, name)  # only what just ran, once per tick
            for req in requests:
                await self._send(req, tick)
            if name in self.group.loops:
                self._persist(name, now, tick.started_s)
        return work

    async def _send(self, req: OutputRequest, tick: Tick) -> None:
        last = self._last_written.get(req.tag)
        if last is not None and last[0] == req.value and tick.started_s - last[1] < REWRITE_EVERY_S \
                and req.tag not in self._failing:
            return
        period = self.group.period_of(req.loop)
        try:
            result = await asyncio.wait_for(self._write(req.tag, req.value), timeout=period)
        except TimeoutError:
            result = WriteOutcome.timeout(f"no answer within the loop period ({period:g} s)")
        except Exception as exc:  # a connector bug must not kill the loop task
            result = WriteOutcome.link_down(f"write path failed: {type(exc).__name__}: {exc}")
        now = datetime.now(UTC)
        if result.accepted:
            self._last_written[req.tag] = (req.value, tick.started_s)
            if req.tag in self._failing:
                del self._failing[req.tag]
                self._events(LoopEvent(now, req.loop, LoopEventKind.OUTPUT_WRITE_RECOVERED,
                                       f"{req.tag} accepts writes again ({req.value:g} {req.unit})"))
            return
        self.write_failures += 1
        if req.tag not in self._failing:
            self._failing[req.tag] = result.reason
            self._events(LoopEvent(now, req.loop, LoopEventKind.OUTPUT_WRITE_FAILED,
                                   f"{req.tag} = {req.value:g} {req.unit} not written: {result.reason}",
                                   data={"tag": req.tag, "value": req.value}))

    def _persist(self, name: str, now: datetime, mono: float) -> None:
        if self._store is None:
            return
        loop = self.group.loops[name]
        last = self._last_saved.get(name)
        if last is None or last[0] != loop.mode.value or last[1] != loop.setpoint or mono - last[2] >= PERSIST_EVERY_S:
            self._store.save(loop.snapshot(now))
            self._last_saved[name] = (loop.mode.value, loop.setpoint, mono)
