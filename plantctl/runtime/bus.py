"""In-process fan-out of sample batches where no consumer can stall acquisition or another consumer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from plantctl.samples import Sample

log = logging.getLogger(__name__)

Tap = Callable[[list[Sample]], object]
"""A consumer called inline with every batch; it must return at once (e.g. enqueue, update a dict)."""


@dataclass
class QueueStats:
    depth: int
    max_depth: int
    delivered_batches: int
    dropped_batches: int
    dropped_samples: int


class Subscription:
    """A bounded queue of batches for one slow consumer; on overflow the oldest batch goes, counted and logged."""

    def __init__(self, name: str, max_batches: int) -> None:
        self.name = name
        self._queue: asyncio.Queue[list[Sample]] = asyncio.Queue(maxsize=max_batches)
        self.delivered_batches = 0
        self.dropped_batches = 0
        self.dropped_samples = 0
        self._overflowing = False

    def offer(self, batch: list[Sample]) -> None:
        if self._queue.full():
            dropped = self._queue.get_nowait()
            self.dropped_batches += 1
            self.dropped_samples += len(dropped)
            if not self._overflowing:
                self._overflowing = True
                log.warning("consumer %s is too slow: dropping its oldest batches (counted in its stats)", self.name)
        elif self._overflowing and self._queue.qsize() < self._queue.maxsize // 2:
            self._overflowing = False
            log.info("consumer %s caught up after dropping %d batches", self.name, self.dropped_batches)
        self._queue.put_nowait(batch)

    async def get(self) -> list[Sample]:
        batch = await self._queue.get()
        self.delivered_batches += 1
        return batch

    async def __aiter__(self) -> AsyncIterator[list[Sample]]:
        while True:
            yield await self.get()

    def stats(self) -> QueueStats:
        return QueueStats(self._queue.qsize(), self._queue.maxsize, self.delivered_batches,
                          self.dropped_batches, self.dropped_samples)


class SampleBus:
    """Sources publish here; taps run inline, subscriptions get their own bounded queues."""

    def __init__(self) -> None:
        self._taps: list[tuple[str, Tap]] = []
        self._subs: list[Subscription] = []
        self.published_batches = 0
        self.published_samples = 0
        self.tap_errors = 0

    def add_tap(self, name: str, tap: Tap) -> None:
        self._taps.append((name, tap))

    def subscribe(self, name: str, max_batches: int = 1000) -> Subscription:
        sub = Subscription(name, max_batches)
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    def publish(self, batch: list[Sample]) -> None:
        if not batch:
            return
        self.published_batches += 1
        self.published_samples += len(batch)
        for name, tap in self._taps:
            try:
                tap(batch)
            except Exception:  # one broken consumer must not stop the others or acquisition
                self.tap_errors += 1
                log.exception("consumer %s failed on a batch of %d samples", name, len(batch))
        for sub in self._subs:
            sub.offer(batch)

    def stats(self) -> dict[str, QueueStats]:
        return {s.name: s.stats() for s in self._subs}
