"""The fan-out contract: a slow or broken consumer never stalls acquisition or the others, and drops are counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from plantctl.quality import Quality
from plantctl.runtime.bus import SampleBus
from plantctl.runtime.live import LiveCache
from plantctl.samples import Sample

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def batch(i: int, n: int = 3) -> list[Sample]:
    return [Sample(f"T{k}", T0 + timedelta(seconds=i), float(i), Quality.GOOD) for k in range(n)]


def test_slow_subscriber_drops_oldest_counted_and_others_get_everything() -> None:
    bus = SampleBus()
    seen: list[list[Sample]] = []
    bus.add_tap("fast", seen.append)
    slow = bus.subscribe("slow", max_batches=4)
    for i in range(10):
        bus.publish(batch(i))  # nobody reads `slow`; publish must still return at once
    assert len(seen) == 10
    stats = slow.stats()
    assert (stats.depth, stats.dropped_batches, stats.dropped_samples) == (4, 6, 18)


@pytest.mark.anyio
async def test_slow_subscriber_keeps_the_newest_batches_in_order() -> None:
    bus = SampleBus()
    slow = bus.subscribe("slow", max_batches=3)
    for i in range(7):
        bus.publish(batch(i))
    got = [(await slow.get())[0].value for _ in range(3)]
    assert got == [4.0, 5.0, 6.0]


def test_broken_tap_does_not_stop_the_others() -> None:
    bus = SampleBus()
    seen: list[int] = []

    def broken(_: list[Sample]) -> None:
        raise RuntimeError("boom")

    bus.add_tap("broken", broken)
    bus.add_tap("ok", lambda b: seen.append(len(b)))
    bus.publish(batch(0))
    bus.publish(batch(1))
    assert seen == [3, 3] and bus.tap_errors == 2


def test_live_cache_keeps_newest_even_when_late_samples_arrive() -> None:
    live = LiveCache()
    live.update([Sample("AIT-101", T0 + timedelta(seconds=5), 7.2)])
    live.update([Sample("AIT-101", T0, 3.0, Quality.BAD_COMM_FAILURE, "late")])
    last = live.get("AIT-101")
    assert last is not None and last.value == 7.2 and last.quality is Quality.GOOD
