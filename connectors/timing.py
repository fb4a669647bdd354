"""Fixed-grid periodic work shared by the sources: scans due at t0 + k·period never drift."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable

from plantctl.clock import LOOP_CLOCK, Clock


async def every(period_s: float, tick: Callable[[], Awaitable[None]], clock: Clock = LOOP_CLOCK) -> None:
    """Run `tick` at t0, t0 + period, … on `clock`; an overrun skips the missed ticks instead of bunching."""
    due = clock.monotonic()
    task = asyncio.current_task()
    while True:
        await tick()
        if task is not None and task.cancelling():  # a cancel swallowed inside tick (gh-86296)
            raise asyncio.CancelledError
        due += period_s
        now = clock.monotonic()
        if due < now:
            due += math.ceil((now - due) / period_s) * period_s
        await clock.sleep(due - now)


async def cancel_and_wait(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel tasks and wait until each has ended, cancelling again if one swallowed it.

    Python 3.11's asyncio.wait_for (used inside pymodbus and asyncua) returns a result that
    arrives in the same loop iteration as a cancel, dropping the cancellation (CPython gh-86296);
    a polling loop would then carry on and a plain `await task` would wait forever.
    """
    for task in tasks:
        task.cancel()
    pending = {t for t in tasks if not t.done()}
    while pending:
        _, pending = await asyncio.wait(pending, timeout=0.5)
        for task in pending:
            task.cancel()
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
