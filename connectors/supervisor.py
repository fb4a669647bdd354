"""What every source does the same way whatever its protocol: keep the link, say when it is lost, write one at a time.

Modelled on Home Assistant's DataUpdateCoordinator and the OpenTelemetry Collector's scraper helper:
a protocol implements a Link (connect, run its acquisition until the link fails, close) and its
write; the Supervisor owns connection with exponential backoff (tenacity), availability and the
health counters, Bad-once marking of the link's tags at the moment of loss, the heartbeat (through
an injected write callable), and the serialised, time-bounded write path.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from connectors.base import Emit, SourceHealth
from connectors.health import LinkHealth
from connectors.heartbeat import heartbeat
from connectors.timing import cancel_and_wait
from plantctl.config.models import SourceConfigBase
from plantctl.quality import Quality
from plantctl.samples import Sample, utcnow
from plantctl.writes import WriteOutcome, WriteStatus

FIRST_RETRY_S = 0.25
"""First reconnect delay; it doubles up to the source's reconnect_max_delay_s (and after a lost link, this)."""

WriteFn = Callable[[str, float], Awaitable[WriteOutcome]]


class Link(Protocol):
    """One connection of a source (a Modbus TCP link, one OPC UA session) as the supervisor drives it."""

    @property
    def tags(self) -> Sequence[str]:
        """The tags that turn Bad when this link is lost."""
        ...

    async def connect(self) -> None:
        """Open the link or raise; the supervisor retries with backoff."""
        ...

    def describe(self, exc: BaseException) -> str:
        """Words for an operator on why connect failed."""
        ...

    async def run(self) -> str:
        """Acquire until the link fails; return why it failed."""
        ...

    async def close(self) -> None:
        """Drop the link and whatever per-link state it holds; must not wait long on a dead peer."""
        ...


@dataclass
class WriteProgress:
    """Set by a protocol's write once the device accepted the value, so a later failure is 'not confirmed'."""

    written: bool = False


class Supervisor:
    """Connect, reconnect, availability, Bad-once, heartbeat and the single write path of one source."""

    def __init__(self, config: SourceConfigBase, emit: Emit, logger: logging.Logger) -> None:
        self._cfg = config
        self._emit = emit
        self._log = logger
        self.health = LinkHealth(config.name, logger)
        self._links: list[Link] = []
        self._up: set[int] = set()
        self._reported: set[int] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._write_lock = asyncio.Lock()  # the device's single write path
        self.heartbeat_write: WriteFn | None = None

    @property
    def connected(self) -> bool:
        return self.health.connected

    @property
    def running(self) -> bool:
        """Started, and no link or heartbeat task has ended (they only end when stopped)."""
        return bool(self._tasks) and not any(t.done() for t in self._tasks)

    def snapshot(self) -> SourceHealth:
        return self.health.snapshot()

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self, links: Sequence[Link], own_write: WriteFn) -> None:
        """One task per link, plus the heartbeat (written through heartbeat_write, else the source's own)."""
        self._links = list(links)
        for index, link in enumerate(self._links):
            self._tasks.append(asyncio.create_task(self._supervise(index, link), name=f"{self._cfg.name}:{index}"))
        if self._cfg.heartbeat_tag is not None:
            beat = heartbeat(
                self._cfg.name,
                self._cfg.heartbeat_tag,
                self._cfg.heartbeat_period_s,
                self.heartbeat_write or own_write,
                lambda: self.health.connected,
                self._log,
            )
            self._tasks.append(asyncio.create_task(beat, name=f"{self._cfg.name}:heartbeat"))

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks.clear()
        self._up.clear()
        self.health.connected = False

    # --- the link loop -------------------------------------------------------------------------

    async def _supervise(self, index: int, link: Link) -> None:
        while True:
            await self._connect(index, link)
            self._link_up(index)
            try:
                reason = await link.run()
            finally:
                self._up.discard(index)
                await link.close()
            self._link_down(index, link, reason)
            await asyncio.sleep(FIRST_RETRY_S)

    async def _connect(self, index: int, link: Link) -> None:
        def failed(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome is not None else None
            self._link_down(index, link, link.describe(exc) if exc is not None else "cannot connect")

        retrying = AsyncRetrying(
            wait=wait_exponential(multiplier=FIRST_RETRY_S, max=self._cfg.reconnect_max_delay_s),
            retry=retry_if_exception_type(Exception),  # every failure to connect is reported and retried
            before_sleep=failed,
        )
        await retrying(link.connect)

    def _link_up(self, index: int) -> None:
        self._up.add(index)
        self._reported.discard(index)
        if len(self._up) == len(self._links):  # available once every link of the source is
            self.health.up()

    def _link_down(self, index: int, link: Link, reason: str) -> None:
        """Every tag of the link turns Bad once at the moment of loss; nothing more while it stays down."""
        self.health.down(reason)
        if index in self._reported:
            return
        self._reported.add(index)
        now = utcnow()
        self._emit([Sample(tag, now, math.nan, Quality.BAD_NOT_CONNECTED, f"{self._cfg.name}: {reason}")
                    for tag in link.tags])

    # --- the write path ------------------------------------------------------------------------

    async def write(
        self,
        attempt: Callable[[WriteProgress], Awaitable[WriteOutcome]],
        classify: Callable[[BaseException, WriteProgress], WriteOutcome | None],
        bound_s: float,
    ) -> WriteOutcome:
        """One write at a time, bounded in time; the protocol maps its library's errors (classify) onto outcomes.

        An error classify does not recognise (returns None for) is a bug and propagates.
        """
        async with self._write_lock:
            progress = WriteProgress()
            try:
                async with asyncio.timeout(bound_s):
                    return await attempt(progress)
            except Exception as exc:
                outcome = classify(exc, progress)
                if outcome is None:
                    raise
        if outcome.status is not WriteStatus.REFUSED_BY_POLICY:  # a local refusal is no link error
            self.health.error(outcome.reason)
        return outcome
