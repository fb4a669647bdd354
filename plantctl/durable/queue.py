"""The one durable queue of plantctl: append-only, fsync'd, bounded, crash-safe, replayed in order.

Used while the database is away by the historian (sample batches), the alarm journal, the control
journal and the audit trail. Layout of a queue directory:
  seg-<20 digits>.spool  segments; records are framed [len u32][crc32 u32][rows u32][payload],
                          little-endian, crc32 over rows+payload (zlib.crc32)
  committed              "<segment number> <byte offset>": every record before it is in the database

Replay is in order and exactly once *at the consumer*: a record leaves the queue only when the
caller commits it after its database transaction committed; a crash between the two replays that
record, which the consumer's idempotency key turns into a no-op (samples: the unique (tag_id, ts)
index; alarm journal: its batch id; audit: the record id).

Sizing rule (the OpenTelemetry Collector exporterhelper's): max_bytes ≥ seconds of outage to ride
through × records per second × (bytes per record + FRAME_OVERHEAD); ``max_bytes_for`` computes it.

Overflow — one code path, the policy is the queue's parameter, every loss is counted:
  DROP_OLDEST  whole oldest segments go (``dropped_*`` counters, logged): for plant records
               (samples, alarm and loop journals) the recent data is the more valuable, and the
               writer must never stop acquisition because a disk filled.
  REFUSE_NEW   ``append`` raises QueueFullError and writes nothing (``refused_*`` counters): for the
               audit, where a record must never be silently dropped, the caller refuses the action
               instead (applied *and* audited, or not applied).
"""

from __future__ import annotations

import enum
import logging
import math
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

_FRAME = struct.Struct("<III")
FRAME_OVERHEAD = _FRAME.size
_SEGMENT_GLOB = "seg-*.spool"


class Overflow(enum.Enum):
    """What a full queue does with a new record (see the module docstring for which to choose)."""

    DROP_OLDEST = "drop-oldest"
    REFUSE_NEW = "refuse-new"


class QueueFullError(Exception):
    """A REFUSE_NEW queue has no room for the records: nothing of them was written."""


def max_bytes_for(outage_s: float, records_per_s: float, bytes_per_record: float) -> int:
    """The queue size that rides through outage_s at records_per_s (the module's sizing rule), at least 1 KiB."""
    if outage_s < 0 or records_per_s < 0 or bytes_per_record < 0:
        raise ValueError("outage, rate and record size must be ≥ 0")
    return max(1024, math.ceil(outage_s * records_per_s * (bytes_per_record + FRAME_OVERHEAD)))


def _segment_name(number: int) -> str:
    return f"seg-{number:020d}.spool"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(slots=True)
class _Segment:
    number: int
    path: Path
    size: int = 0  # bytes of valid frames
    records: int = 0
    rows: int = 0


@dataclass(frozen=True, slots=True)
class QueueRecord:
    """One queued record (``rows`` items in it), and where it ends (the committed marker after it)."""

    segment: int
    offset: int
    end: int
    rows: int
    payload: bytes


@dataclass(slots=True)
class QueueCounters:
    """Everything the queue did since it was opened; every record lost is in dropped_* or refused_*."""

    appended_batches: int = 0
    appended_rows: int = 0
    committed_batches: int = 0
    committed_rows: int = 0
    dropped_batches: int = 0
    dropped_rows: int = 0
    dropped_segments: int = 0
    refused_batches: int = 0  # REFUSE_NEW: appends refused because the queue was full
    refused_rows: int = 0
    torn_bytes_truncated: int = 0
    corrupt_segments: int = 0
    drops: list[str] = field(default_factory=list)


class DurableQueue:
    """FIFO of byte records on disk with a committed-offset marker; see the module docstring."""

    def __init__(self, directory: Path, max_bytes: int, segment_max_bytes: int | None = None,
                 overflow: Overflow = Overflow.DROP_OLDEST) -> None:
        if max_bytes < 1024:
            raise ValueError(f"queue max_bytes {max_bytes} is below 1024")
        self.directory = directory
        self.max_bytes = max_bytes
        self.overflow = overflow
        self.segment_max_bytes = segment_max_bytes or max(4096, min(64 * 1024**2, max_bytes // 8))
        self.counters = QueueCounters()
        self._segments: list[_Segment] = []
        self._cursor = 0  # byte offset of the next uncommitted record in _segments[0]
        self._head_consumed_records = 0
        self._head_consumed_rows = 0
        self._writer: BinaryIO | None = None
        self._reader: BinaryIO | None = None
        self._reader_segment = -1
        directory.mkdir(parents=True, exist_ok=True)
        self._recover()

    # -- state -------------------------------------------------------------------------------
    @property
    def pending_batches(self) -> int:
        return sum(s.records for s in self._segments) - self._head_consumed_records

    @property
    def pending_rows(self) -> int:
        return sum(s.rows for s in self._segments) - self._head_consumed_rows

    @property
    def pending_bytes(self) -> int:
        """Bytes of records not yet committed (the committed head of a segment awaits its deletion)."""
        return self.bytes_on_disk - (self._cursor if self._segments else 0)

    @property
    def bytes_on_disk(self) -> int:
        return sum(s.size for s in self._segments)

    def __bool__(self) -> bool:
        return self.pending_batches > 0

    # -- recovery ----------------------------------------------------------------------------
    def _read_marker(self) -> tuple[int, int]:
        try:
            number, offset = (self.directory / "committed").read_text().split()
            return int(number), int(offset)
        except (OSError, ValueError):
            return 0, 0

    def _write_marker(self, number: int, offset: int) -> None:
        tmp = self.directory / "committed.tmp"
        with tmp.open("w") as fh:
            fh.write(f"{number} {offset}\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.directory / "committed")
        _fsync_dir(self.directory)

    def _scan(self, seg: _Segment, is_last: bool) -> None:
        """Count a segment's valid frames; cut a torn tail (crash mid-append) off the last one."""
        data = seg.path.read_bytes()
        pos = 0
        while pos + FRAME_OVERHEAD <= len(data):
            length, crc, rows = _FRAME.unpack_from(data, pos)
            end = pos + FRAME_OVERHEAD + length
            if end > len(data) or zlib.crc32(data[pos + 8:end]) != crc:
                break
            seg.records += 1
            seg.rows += rows
            pos = end
        seg.size = pos
        if pos < len(data):
            if is_last:
                log.warning("spool %s: cutting %d bytes of a torn last record", seg.path.name, len(data) - pos)
                self.counters.torn_bytes_truncated += len(data) - pos
                with seg.path.open("r+b") as fh:
                    fh.truncate(pos)
                    os.fsync(fh.fileno())
            else:
                log.error("spool %s: corrupt record at byte %d; the %d bytes after it are skipped",
                          seg.path.name, pos, len(data) - pos)
                self.counters.corrupt_segments += 1

    def _recover(self) -> None:
        marker_number, marker_offset = self._read_marker()
        paths = sorted(self.directory.glob(_SEGMENT_GLOB))
        for i, path in enumerate(paths):
            number = int(path.stem.split("-")[1])
            if number < marker_number:
                path.unlink()  # fully committed before a crash, not yet deleted
                continue
            seg = _Segment(number, path)
            self._scan(seg, is_last=i == len(paths) - 1)
            self._segments.append(seg)
        if self._segments and self._segments[0].number == marker_number:
            self._skip_head_to(marker_offset)
        _fsync_dir(self.directory)

    def _skip_head_to(self, offset: int) -> None:
        head = self._segments[0]
        with head.path.open("rb") as fh:
            pos = 0
            while pos < min(offset, head.size):
                length, _crc, rows = _FRAME.unpack(fh.read(FRAME_OVERHEAD))
                fh.seek(length, os.SEEK_CUR)
                pos += FRAME_OVERHEAD + length
                self._head_consumed_records += 1
                self._head_consumed_rows += rows
        self._cursor = pos

    # -- append ------------------------------------------------------------------------------
    def append_many(self, items: list[tuple[bytes, int]]) -> None:
        """Append (payload, rows) records in order and fsync once; when full, apply the overflow policy."""
        if not items:
            return
        if self.overflow is Overflow.REFUSE_NEW:
            needed = sum(FRAME_OVERHEAD + len(payload) for payload, _rows in items)
            if self.pending_bytes + needed > self.max_bytes:
                rows = sum(r for _p, r in items)
                self.counters.refused_batches += len(items)
                self.counters.refused_rows += rows
                msg = (f"queue {self.directory} full ({self.bytes_on_disk} of {self.max_bytes} B): "
                       f"refused {len(items)} records ({needed} B)")
                log.error(msg)
                raise QueueFullError(msg)
        for payload, rows in items:
            frame_len = FRAME_OVERHEAD + len(payload)
            if frame_len > self.max_bytes:
                self._drop(f"a batch of {rows} rows ({frame_len} B) is larger than the whole spool",
                           batches=1, rows=rows)
                continue
            while self._segments and self.bytes_on_disk + frame_len > self.max_bytes:
                self._drop_oldest_segment()
            writer = self._active_writer(frame_len)
            tail = struct.pack("<I", rows) + payload
            writer.write(struct.pack("<II", len(payload), zlib.crc32(tail)) + tail)
            seg = self._segments[-1]
            seg.size += frame_len
            seg.records += 1
            seg.rows += rows
            self.counters.appended_batches += 1
            self.counters.appended_rows += rows
        if self._writer is not None:
            self._writer.flush()
            os.fsync(self._writer.fileno())

    def append(self, payload: bytes, rows: int) -> None:
        self.append_many([(payload, rows)])

    def _active_writer(self, frame_len: int) -> BinaryIO:
        last = self._segments[-1] if self._segments else None
        if last is None or (last.size > 0 and last.size + frame_len > self.segment_max_bytes):
            if self._writer is not None:
                self._writer.flush()
                os.fsync(self._writer.fileno())
                self._writer.close()
                self._writer = None
            number = last.number + 1 if last else max(1, self._read_marker()[0])
            last = _Segment(number, self.directory / _segment_name(number))
            self._segments.append(last)
            if len(self._segments) == 1:
                self._cursor = 0
                self._head_consumed_records = self._head_consumed_rows = 0
        if self._writer is None:
            self._writer = last.path.open("ab")
            if self._writer.tell() == 0:
                _fsync_dir(self.directory)
        return self._writer

    def _drop(self, why: str, batches: int, rows: int) -> None:
        self.counters.dropped_batches += batches
        self.counters.dropped_rows += rows
        msg = (f"queue {self.directory} full ({self.bytes_on_disk} of {self.max_bytes} B): "
               f"dropped {batches} batches, {rows} rows: {why}")
        self.counters.drops.append(msg)
        del self.counters.drops[:-20]
        log.error(msg)

    def _drop_oldest_segment(self) -> None:
        head = self._segments[0]
        self._drop(f"oldest segment {head.path.name}",
                   batches=head.records - self._head_consumed_records,
                   rows=head.rows - self._head_consumed_rows)
        self.counters.dropped_segments += 1
        self._remove_head()

    def _remove_head(self) -> None:
        head = self._segments.pop(0)
        if self._reader_segment == head.number and self._reader is not None:
            self._reader.close()
            self._reader, self._reader_segment = None, -1
        if not self._segments and self._writer is not None:
            self._writer.close()
            self._writer = None
        next_number = self._segments[0].number if self._segments else head.number + 1
        self._write_marker(next_number, 0)
        head.path.unlink(missing_ok=True)
        self._cursor = 0
        self._head_consumed_records = self._head_consumed_rows = 0

    # -- replay ------------------------------------------------------------------------------
    def peek(self) -> QueueRecord | None:
        """The oldest uncommitted record, or None when the spool is empty."""
        records = self.peek_many(1, 0)
        return records[0] if records else None

    def peek_many(self, max_records: int, max_rows: int) -> list[QueueRecord]:
        """The oldest uncommitted records of the head segment, in order: at least one (if any), then
        more while the count stays within max_records and the rows within max_rows."""
        while self._segments:
            head = self._segments[0]
            if self._cursor < head.size:
                break
            if len(self._segments) == 1:
                return []
            self._remove_head()  # fully committed, and a newer segment exists
        else:
            return []
        head = self._segments[0]
        if self._reader_segment != head.number or self._reader is None:
            if self._reader is not None:
                self._reader.close()
            self._reader = head.path.open("rb")
            self._reader_segment = head.number
        out: list[QueueRecord] = []
        pos, rows_total = self._cursor, 0
        self._reader.seek(pos)
        while pos < head.size and len(out) < max_records:
            length, _crc, rows = _FRAME.unpack(self._reader.read(FRAME_OVERHEAD))
            if out and rows_total + rows > max_rows:
                break
            payload = self._reader.read(length)
            end = pos + FRAME_OVERHEAD + length
            out.append(QueueRecord(head.number, pos, end, rows, payload))
            pos, rows_total = end, rows_total + rows
        return out

    def commit(self, record: QueueRecord) -> None:
        """Mark a record as stored in the database; durable before returning."""
        self.commit_many([record])

    def commit_many(self, records: list[QueueRecord]) -> None:
        """Mark consecutive records (from peek_many) as stored; one durable marker update."""
        if not records:
            return
        first, last = records[0], records[-1]
        if not self._segments or self._segments[0].number != first.segment or self._cursor != first.offset:
            return  # their segment was dropped while they were in flight
        rows = sum(r.rows for r in records)
        self._cursor = last.end
        self._head_consumed_records += len(records)
        self._head_consumed_rows += rows
        self.counters.committed_batches += len(records)
        self.counters.committed_rows += rows
        head = self._segments[0]
        if self._cursor >= head.size and len(self._segments) > 1:
            self._remove_head()
        else:
            self._write_marker(last.segment, last.end)

    def close(self) -> None:
        for fh in (self._writer, self._reader):
            if fh is not None:
                fh.close()
        self._writer = self._reader = None
        self._reader_segment = -1
