"""The monotonic clock and sleep that schedules run on, injectable so schedules can be tested in virtual time."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from typing import Protocol


class Clock(Protocol):
    """Monotonic seconds and a sleep on the same time base (a schedule needs both to agree)."""

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class LoopClock:
    """The running event loop's clock and asyncio.sleep: what the service runs on."""

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


LOOP_CLOCK = LoopClock()


class VirtualClock:
    """Time that moves only when advanced: sleepers wake in deadline order, each running before time moves on.

    A test drives a schedule through hours in milliseconds and checks exact instants instead of wall-clock
    tolerances. elapse() is time a computation costs (a slow CPU), without waking anyone.
    """

    def __init__(self, start_s: float = 0.0, settle_rounds: int = 50) -> None:
        self._now = start_s
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._settle_rounds = settle_rounds

    def monotonic(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), wake))
        await wake

    def elapse(self, seconds: float) -> None:
        """Time spent computing: the clock moves, sleepers due meanwhile wake at the next advance()."""
        self._now += seconds

    @property
    def next_wake_s(self) -> float | None:
        live = [t for t, _, f in self._sleepers if not f.done()]
        return min(live) if live else None

    async def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`, waking every sleeper due on the way at its own deadline."""
        end = self._now + seconds
        await self._settle()
        while self._sleepers and self._sleepers[0][0] <= end:
            due, _, wake = heapq.heappop(self._sleepers)
            if wake.done():  # cancelled sleeper
                continue
            self._now = max(self._now, due)
            wake.set_result(None)
            await self._settle()
        self._now = max(self._now, end)
        await self._settle()

    async def _settle(self) -> None:
        """Let the tasks just woken run until they block again (they do no I/O in virtual time)."""
        for _ in range(self._settle_rounds):
            await asyncio.sleep(0)
