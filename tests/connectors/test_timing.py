"""Scheduling helpers shared by the sources."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from connectors.timing import cancel_and_wait, every
from plantctl.clock import VirtualClock

pytestmark = pytest.mark.anyio


async def test_regression_stop_ends_a_poll_loop_whose_tick_swallowed_the_cancel() -> None:
    # Python 3.11 wait_for drops a cancel when the awaited result lands in the same iteration
    # (gh-86296); pymodbus awaits replies that way. Model it: the tick eats CancelledError.
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        ticks += 1
        with contextlib.suppress(asyncio.CancelledError):  # as wait_for does when the result is in
            await asyncio.sleep(0.05)

    task = asyncio.create_task(every(0.01, tick))
    await asyncio.sleep(0.2)
    await asyncio.wait_for(cancel_and_wait([task]), 2.0)
    assert task.done()
    settled = ticks
    await asyncio.sleep(0.2)
    assert ticks == settled, "the loop really stopped"


async def test_every_keeps_the_grid_when_a_tick_overruns() -> None:
    clock = VirtualClock(start_s=50.0)
    starts: list[float] = []

    async def tick() -> None:
        starts.append(clock.monotonic())
        if len(starts) == 2:
            clock.elapse(0.25)  # overruns two and a half periods

    task = asyncio.create_task(every(0.1, tick, clock))
    await clock.advance(0.75)
    await cancel_and_wait([task])
    offsets = [round((t - starts[0]) / 0.1, 9) for t in starts]
    # due at 0, 1, then 2 and 3 are skipped (not bunched), so the next are 4, 5, 6, 7 — on the grid exactly
    assert offsets == [0, 1, 4, 5, 6, 7], offsets
