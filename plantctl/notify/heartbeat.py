"""The dead man's switch: a request to an external monitor every period; when they stop, the monitor pages."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

import httpx

from plantctl.config.notifications import HeartbeatConfig
from plantctl.samples import utcnow

log = logging.getLogger(__name__)


@dataclass
class HeartbeatStats:
    sent: int = 0
    failed: int = 0
    last_ok: datetime | None = None
    last_error: str = ""


class Heartbeat:
    """Beats only while the service's event loop runs: a hung or stopped service goes silent, as it must."""

    def __init__(self, cfg: HeartbeatConfig) -> None:
        self.cfg = cfg
        self.stats = HeartbeatStats()

    async def beat(self) -> bool:
        try:
            async with httpx.AsyncClient(timeout=self.cfg.timeout_s) as client:
                r = await client.request(self.cfg.method, self.cfg.url)
            r.raise_for_status()
        except httpx.HTTPError as exc:
            self.stats.failed += 1
            self.stats.last_error = repr(exc)
            log.warning("heartbeat to the external monitor failed: %r", exc)
            return False
        self.stats.sent += 1
        self.stats.last_ok = utcnow()
        return True

    async def run(self) -> None:
        while True:
            await self.beat()
            await asyncio.sleep(self.cfg.period_s)
