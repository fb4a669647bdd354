"""Supervisory heartbeat: a counter written to the PLC so its watchdog notices when we die."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from plantctl.writes import WriteOutcome


async def heartbeat(
    source: str,
    tag: str,
    period_s: float,
    write: Callable[[str, float], Awaitable[WriteOutcome]],
    connected: Callable[[], bool],
    logger: logging.Logger,
) -> None:
    """Write 1, 2, … 65535, 0, 1 … (mod 65536) every period through the source's write path."""
    count = 0
    failing = False
    while True:
        await asyncio.sleep(period_s)
        if not connected():
            continue
        count = (count + 1) % 65536
        result = await write(tag, float(count))
        if not result.accepted and not failing:
            logger.warning("source %s: heartbeat write to %s failed: %s", source, tag, result.reason)
        elif result.accepted and failing:
            logger.info("source %s: heartbeat writes to %s succeed again", source, tag)
        failing = not result.accepted
