"""The durable queue's overflow policies and sizing rule (order, markers, torn tails: tests/historian/test_spool.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from plantctl.durable import DurableQueue, Overflow, QueueFullError, max_bytes_for
from plantctl.durable.queue import FRAME_OVERHEAD


def _drain(q: DurableQueue) -> list[bytes]:
    out = []
    while (rec := q.peek()) is not None:
        out.append(rec.payload)
        q.commit(rec)
    return out


def test_refuse_new_raises_writes_nothing_and_counts(tmp_path: Path) -> None:
    q = DurableQueue(tmp_path, max_bytes=1024, overflow=Overflow.REFUSE_NEW)
    record = b"x" * (200 - FRAME_OVERHEAD)
    for _ in range(5):
        q.append(record, 1)
    with pytest.raises(QueueFullError, match="refused 2 records"):
        q.append_many([(b"a", 1), (b"b", 1)])  # all or nothing: 5 × 200 B + 2 frames > 1024 B
    assert q.pending_batches == 5 and q.counters.refused_batches == 2 and q.counters.dropped_batches == 0
    again = DurableQueue(tmp_path, max_bytes=1024, overflow=Overflow.REFUSE_NEW)
    assert _drain(again) == [record] * 5  # the oldest were kept, not dropped


def test_refuse_new_takes_records_again_once_older_ones_are_committed(tmp_path: Path) -> None:
    q = DurableQueue(tmp_path, max_bytes=1024, overflow=Overflow.REFUSE_NEW)
    for i in range(5):
        q.append(bytes([i]) * 192, 1)  # 5 × 204 B framed = 1020 B of 1024
    with pytest.raises(QueueFullError):
        q.append(b"late", 1)
    first = q.peek()
    assert first is not None
    q.commit(first)
    q.append(b"late", 1)  # the committed record's room counts as free
    assert _drain(q)[-1] == b"late"


def test_drop_oldest_keeps_the_newest_and_counts_what_it_dropped(tmp_path: Path) -> None:
    q = DurableQueue(tmp_path, max_bytes=1024, segment_max_bytes=400, overflow=Overflow.DROP_OLDEST)
    for i in range(12):
        q.append(bytes([i]) * 188, 1)
    kept = _drain(q)
    assert kept[-1] == bytes([11]) * 188 and len(kept) + q.counters.dropped_batches == 12
    assert q.counters.dropped_batches > 0 and q.counters.refused_batches == 0


def test_sizing_rule_is_outage_times_rate_times_framed_record() -> None:
    assert max_bytes_for(outage_s=3600, records_per_s=10, bytes_per_record=188) == 3600 * 10 * 200
    assert max_bytes_for(outage_s=0, records_per_s=10, bytes_per_record=100) == 1024  # the floor
    with pytest.raises(ValueError):
        max_bytes_for(outage_s=-1, records_per_s=1, bytes_per_record=1)
