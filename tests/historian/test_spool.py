"""The disk spool alone: order, the committed marker across reopen, torn tails, corruption, drop-oldest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plantctl.durable.queue import FRAME_OVERHEAD, DurableQueue
from plantctl.historian.codec import SpoolFormatError, decode_batch, encode_batch
from plantctl.historian.copybin import encode_copy, encode_spooled
from plantctl.historian.quarantine import Quarantine
from plantctl.quality import Quality
from plantctl.samples import Sample


def _payload(i: int, size: int = 100) -> bytes:
    return i.to_bytes(4, "little") * (size // 4)


def _drain(spool: DurableQueue) -> list[bytes]:
    out = []
    while (rec := spool.peek()) is not None:
        out.append(rec.payload)
        spool.commit(rec)
    return out


def test_records_come_back_in_order_and_commit_survives_reopen(tmp_path: Path) -> None:
    sp = DurableQueue(tmp_path, max_bytes=1 << 20, segment_max_bytes=1000)
    sp.append_many([(_payload(i), 10) for i in range(30)])  # spans several segments
    assert sp.pending_batches == 30 and sp.pending_rows == 300
    for i in range(12):
        rec = sp.peek()
        assert rec is not None and rec.payload == _payload(i)
        sp.commit(rec)
    sp.close()
    again = DurableQueue(tmp_path, max_bytes=1 << 20, segment_max_bytes=1000)
    assert again.pending_batches == 18
    assert _drain(again) == [_payload(i) for i in range(12, 30)]
    assert not again
    assert len(list(tmp_path.glob("seg-*.spool"))) == 1  # drained segments are deleted


def test_uncommitted_record_is_replayed_after_a_crash(tmp_path: Path) -> None:
    sp = DurableQueue(tmp_path, max_bytes=1 << 20)
    sp.append_many([(_payload(1), 1), (_payload(2), 1)])
    rec = sp.peek()
    assert rec is not None
    # crash here: the record was peeked (and maybe stored) but never committed
    again = DurableQueue(tmp_path, max_bytes=1 << 20)
    assert _drain(again) == [_payload(1), _payload(2)]


def test_torn_last_record_is_cut_and_earlier_ones_kept(tmp_path: Path) -> None:
    sp = DurableQueue(tmp_path, max_bytes=1 << 20)
    sp.append_many([(_payload(1), 1), (_payload(2), 1)])
    sp.close()
    seg = next(tmp_path.glob("seg-*.spool"))
    with seg.open("ab") as fh:
        fh.write(b"\x40\x00\x00\x00garbage")  # a crash mid-append: header says 64 bytes, 7 follow
    again = DurableQueue(tmp_path, max_bytes=1 << 20)
    assert again.counters.torn_bytes_truncated == 11
    again.append(_payload(3), 1)
    assert _drain(again) == [_payload(1), _payload(2), _payload(3)]


def test_flipped_bit_fails_the_crc(tmp_path: Path) -> None:
    sp = DurableQueue(tmp_path, max_bytes=1 << 20)
    sp.append_many([(_payload(1), 1), (_payload(2), 1)])
    sp.close()
    seg = next(tmp_path.glob("seg-*.spool"))
    data = bytearray(seg.read_bytes())
    data[FRAME_OVERHEAD + 100 + FRAME_OVERHEAD + 5] ^= 0x01  # inside the second payload
    seg.write_bytes(bytes(data))
    again = DurableQueue(tmp_path, max_bytes=1 << 20)
    assert _drain(again) == [_payload(1)]


def test_full_spool_drops_oldest_segments_and_counts_them(tmp_path: Path) -> None:
    frame = FRAME_OVERHEAD + 100
    sp = DurableQueue(tmp_path, max_bytes=10 * frame, segment_max_bytes=2 * frame)  # 5 segments of 2
    sp.append_many([(_payload(i), 3) for i in range(14)])
    assert sp.bytes_on_disk <= 10 * frame
    assert sp.counters.dropped_batches == 4 and sp.counters.dropped_rows == 12
    assert sp.counters.dropped_segments == 2
    assert "dropped 2 batches" in sp.counters.drops[0]
    assert _drain(sp) == [_payload(i) for i in range(4, 14)]


def test_a_batch_larger_than_the_spool_is_dropped_with_a_reason(tmp_path: Path) -> None:
    sp = DurableQueue(tmp_path, max_bytes=4096)
    sp.append(b"x" * 5000, 7)
    assert sp.counters.dropped_rows == 7 and "larger than the whole spool" in sp.counters.drops[0]
    assert not sp


_aware = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9000, 1, 1),
                      timezones=st.just(UTC))
_sample = st.builds(Sample, st.sampled_from(["AIT-101", "FIT-100", "P-201.SPEED", "µ-tag"]), _aware,
                    st.floats(allow_nan=False), st.sampled_from(list(Quality)))


@settings(max_examples=60, deadline=None)
@given(st.lists(_sample, max_size=50))
def test_codec_round_trip(samples: list[Sample]) -> None:
    assert decode_batch(encode_batch(samples)) == samples


def test_codec_keeps_nan_and_rejects_truncation() -> None:
    s = Sample("AIT-101", datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=1), float("nan"),
               Quality.BAD_SENSOR_FAILURE)
    back = decode_batch(encode_batch([s]))[0]
    assert back.value != back.value and back.ts == s.ts and back.quality is Quality.BAD_SENSOR_FAILURE
    with pytest.raises(SpoolFormatError):
        decode_batch(encode_batch([s])[:-3])


_IDS = {"AIT-101": 1, "FIT-100": 2, "P-201.SPEED": 3, "µ-tag": 4}
_finite_good = st.builds(Sample, st.sampled_from(sorted(_IDS)), _aware,
                         st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(list(Quality)))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(_finite_good, min_size=1, max_size=30), min_size=1, max_size=4))
def test_replay_fast_path_gives_the_same_copy_stream(batches: list[list[Sample]]) -> None:
    fast = encode_spooled([encode_batch(b) for b in batches], _IDS)
    slow = encode_copy([s for b in batches for s in b], _IDS)
    assert fast is not None and fast.data == slow.data and fast.min_ts == slow.min_ts and fast.rows == slow.rows


def test_replay_fast_path_steps_aside_for_rows_it_cannot_judge() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    assert encode_spooled([encode_batch([Sample("NEW-TAG", t, 1.0)])], _IDS) is None
    assert encode_spooled([encode_batch([Sample("AIT-101", t, float("inf"))])], _IDS) is None
    assert encode_spooled([encode_batch([Sample("AIT-101", t, float("nan"), Quality.BAD)])], _IDS) is not None
    assert encode_spooled([b"\x07garbage"], _IDS) is None


def test_copy_encoder_refuses_values_that_are_not_numbers() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    good = Sample("AIT-101", t, 7.0)
    as_text = Sample("AIT-101", t + timedelta(seconds=1), "7.1")  # type: ignore[arg-type]
    nothing = Sample("AIT-101", t + timedelta(seconds=2), None)  # type: ignore[arg-type]
    out = encode_copy([good, as_text, nothing], _IDS)
    assert out.rows == 1 and out.kept == [good]
    assert out.refused == {"value '7.1' is not a number": [as_text], "value None is not a number": [nothing]}


def test_quarantine_keeps_what_fits_and_counts_the_rest(tmp_path: Path) -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    q = Quarantine(tmp_path, max_bytes=600)
    batch = [Sample("AIT-101", t + timedelta(seconds=k), float("nan"), Quality.GOOD) for k in range(3)]
    q.put(batch, "non-finite value with a quality other than Bad")
    q.put(batch, "non-finite value with a quality other than Bad")
    q.put(batch, "non-finite value with a quality other than Bad")
    kept = q.entries()
    assert 1 <= len(kept) < 3 and q.batches == len(kept) and q.dropped_rows == 3 * (3 - len(kept))
    assert tmp_path.joinpath("quarantine.jsonl").stat().st_size <= 600
    assert [s.ts for s in kept[0].samples] == [s.ts for s in batch]
    again = Quarantine(tmp_path, max_bytes=600)  # counts survive a restart
    assert again.batches == len(kept) and again.rows == 3 * len(kept)
