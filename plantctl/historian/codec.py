"""Compact binary form of a sample batch for the disk spool (tag names, not ids: ids need the database)."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from plantctl.quality import quality_from_code
from plantctl.samples import Sample

FORMAT_VERSION = 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_ROW = struct.Struct("<HqdB")  # tag index, µs since epoch (UTC), value, OPC DA quality byte
_HEAD = struct.Struct("<BHI")  # version, tag names, rows
ROW_BYTES = _ROW.size


class SpoolFormatError(ValueError):
    """A spooled record cannot be decoded (unknown version or truncated)."""


def encode_batch(samples: list[Sample]) -> bytes:
    """Encode samples in order; 19 bytes a row plus each distinct tag name once."""
    index: dict[str, int] = {}
    for s in samples:
        if s.tag not in index:
            index[s.tag] = len(index)
    if len(index) > 0xFFFF:
        raise ValueError("a batch holds at most 65535 distinct tags")
    parts = [_HEAD.pack(FORMAT_VERSION, len(index), len(samples))]
    for name in index:
        raw = name.encode()
        parts.append(struct.pack("<H", len(raw)) + raw)
    pack = _ROW.pack
    parts.extend(pack(index[s.tag], (s.ts - _EPOCH) // _US, s.value, int(s.quality)) for s in samples)
    return b"".join(parts)


ROW_DTYPE = np.dtype([("tag", "<u2"), ("us", "<i8"), ("value", "<f8"), ("quality", "u1")])  # packed, 19 B


def _read_head(payload: bytes) -> tuple[list[str], int, int]:
    """The tag names, the offset of the first row and the row count; checks version and length."""
    version, n_names, n_rows = _HEAD.unpack_from(payload, 0)
    if version != FORMAT_VERSION:
        raise SpoolFormatError(f"spool record format {version} is not {FORMAT_VERSION}")
    pos = _HEAD.size
    names: list[str] = []
    for _ in range(n_names):
        (length,) = struct.unpack_from("<H", payload, pos)
        pos += 2
        names.append(payload[pos:pos + length].decode())
        pos += length
    if len(payload) - pos != n_rows * _ROW.size:
        raise SpoolFormatError("spool record length does not match its row count")
    return names, pos, n_rows


def decode_arrays(payload: bytes) -> tuple[list[str], np.ndarray[Any, Any]]:
    """The tag names and the rows as a numpy record array (the replay fast path: no Sample objects)."""
    try:
        names, pos, n_rows = _read_head(payload)
        return names, np.frombuffer(payload, dtype=ROW_DTYPE, offset=pos, count=n_rows)
    except (struct.error, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, SpoolFormatError):
            raise
        raise SpoolFormatError(f"undecodable spool record: {exc}") from exc


def decode_batch(payload: bytes) -> list[Sample]:
    """Inverse of encode_batch; timestamps come back aware UTC."""
    try:
        names, pos, _n_rows = _read_head(payload)
        return [Sample(names[i], _EPOCH + us * _US, v, quality_from_code(q))
                for i, us, v, q in _ROW.iter_unpack(payload[pos:])]
    except (struct.error, IndexError, UnicodeDecodeError) as exc:
        raise SpoolFormatError(f"undecodable spool record: {exc}") from exc
