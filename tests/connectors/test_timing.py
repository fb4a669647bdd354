"""Scheduling helpers shared by the sources."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from connectors.timing import cancel_and_wait, every

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
    loop = asyncio.get_running_loop()
    starts: list[float] = []

    async def tick() -> None:
        starts.append(loop.time())
        if len(starts) == 2:
            await asyncio.sleep(0.25)  # overruns two and a half periods

    task = asyncio.create_task(every(0.1, tick))
    await asyncio.sleep(0.75)
    await cancel_and_wait([task])
    offsets = [round((t - starts[0]) / 0.1) for t in starts]
    # due at 0, 1, then 2 and 3 are skipped (not bunched), so the next are 4, 5, 6 …
    assert offsets[:4] == [0, 1, 4, 5], offsets
    assert all(abs(t - starts[0] - k * 0.1) < 0.05 for t, k in zip(starts, offsets, strict=True))
