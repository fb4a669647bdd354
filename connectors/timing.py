"""Fixed-grid periodic work shared by the sources: scans due at t0 + k·period never drift."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable


async def every(period_s: float, tick: Callable[[], Awaitable[None]]) -> None:
    """Run `tick` at t0, t0 + period, …; an overrun skips the missed ticks instead of bunching."""
    loop = asyncio.get_running_loop()
    due = loop.time()
    while True:
        await tick()
        due += period_s
        now = loop.time()
        if due < now:
            due += math.ceil((now - due) / period_s) * period_s
        await asyncio.sleep(due - now)
