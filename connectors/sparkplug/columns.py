"""NDATA → column arrays with numpy: the central ingest decodes 100,000 metrics/s without an object per metric.

Protobuf's Python objects cost ~6 µs per metric to read field by field (upb parses in C, but every
attribute access builds a Python value), so a 1,000-metric NDATA at 1 s from 100 sites needed a
whole core. Here upb still parses the payload (the same validation as ``codec.decode``: what it
refuses is malformed), then the wire bytes are read again by numpy, all metrics in lockstep: each
round reads one field of every metric (protobuf wire format: a key byte ``field << 3 | wire type``,
then a varint, 8 or 4 fixed bytes, or a length and that many bytes). A metric the lockstep does not
cover (a name, an integer, string or dataset value, metadata, properties other than a lone
``Quality``) is an "odd" one: it is decoded by ``codec.decode_metric`` as before, so every
payload ``codec.decode`` reads gives the same values here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from google.protobuf.message import DecodeError

from connectors.sparkplug import codec
from connectors.sparkplug import sparkplug_b_pb2 as pb
from plantctl.quality import Quality

# The one property set the fast path reads: keys ["Quality"], values [{type: Int32, int_value: q}]
_QUALITY_PREFIX = np.frombuffer(b"\x0a\x07Quality\x12", np.uint8)
_HUGE = 2**62  # stands for any varint above it (an alias no birth declares, a time stamp no datetime holds)
_MAX_ROUNDS = 16  # fields per metric the lockstep follows; more (repeated or unknown fields) → odd

# Metric fields (sparkplug_b.proto, Payload.Metric)
_ALIAS, _TIMESTAMP, _DATATYPE, _HISTORICAL, _TRANSIENT, _NULL, _PROPERTIES = 2, 3, 4, 5, 6, 7, 9
_FLOAT, _DOUBLE, _BOOLEAN = 12, 13, 14


@dataclass(frozen=True, slots=True)
class DataColumns:
    """One NDATA (or any payload) as columns: row k is metric k of the payload, in order.

    ``alias`` is -1 where the metric goes by name (``name[k]`` then holds it); ``ts_ms`` the metric's
    timestamp (or the payload's); ``value`` NaN when null or not numeric; ``quality`` the OPC DA byte
    as ``codec.decode`` maps it; ``reason`` "" except where an odd metric carried a QualityReason.
    """

    timestamp_ms: int | None
    seq: int | None
    alias: npt.NDArray[np.int64]
    ts_ms: npt.NDArray[np.int64]
    value: npt.NDArray[np.float64]
    quality: npt.NDArray[np.int64]
    historical: npt.NDArray[np.bool_]
    names: dict[int, str]  # row → metric name, for metrics that carry one
    reasons: dict[int, str]  # row → QualityReason, for the odd metrics that carry one

    def __len__(self) -> int:
        return len(self.alias)


def _varints(buf: npt.NDArray[np.uint8], pos: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.uint64],
                                                                             npt.NDArray[np.int64]]:
    """Decode one varint at each position (vectorised over positions); returns values and positions after."""
    value = np.zeros(len(pos), np.uint64)
    at = pos.copy()
    going = np.ones(len(pos), bool)
    last = len(buf) - 1
    for k in range(10):
        idx = np.minimum(at, last)
        byte = buf[idx].astype(np.uint64)
        value[going] |= (byte[going] & np.uint64(0x7F)) << np.uint64(7 * k)
        at[going] += 1
        going &= (byte & np.uint64(0x80)) != 0
        if not going.any():
            break
    return value, at


def _metric_spans(payload: bytes) -> tuple[list[int], list[int]]:
    """Start and end offsets of every metric (field 2) of a payload upb has already accepted."""
    starts: list[int] = []
    ends: list[int] = []
    i, n = 0, len(payload)
    while i < n:
        if payload[i] == 0x12 and i + 1 < n and payload[i + 1] < 0x80:  # a metric under 128 bytes: the usual
            i += 2
            starts.append(i)
            i += payload[i - 1]
            ends.append(i)
            continue
        key, shift = 0, 0
        while True:
            b = payload[i]
            i += 1
            key |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        wire = key & 7
        if wire == 0:
            while payload[i] & 0x80:
                i += 1
            i += 1
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            length, shift = 0, 0
            while True:
                b = payload[i]
                i += 1
                length |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
            if key == 0x12:  # field 2 (metrics), length-delimited
                starts.append(i)
                ends.append(i + length)
            i += length
        else:  # groups (wire types 3, 4): upb accepted them, but no Sparkplug field is one
            raise codec.MalformedPayload(f"wire type {wire} in a payload")
    return starts, ends


def decode_columns(payload: bytes) -> DataColumns:
    """Parse a payload into columns; MalformedPayload for exactly what ``codec.decode`` refuses."""
    p = pb.Payload()
    try:
        p.ParseFromString(payload)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise codec.MalformedPayload(f"not a Sparkplug B protobuf payload ({len(payload)} bytes): {exc}") from exc
    timestamp_ms = p.timestamp if p.HasField("timestamp") else None
    seq = p.seq if p.HasField("seq") else None
    starts, ends = _metric_spans(payload)
    n = len(starts)
    buf = np.frombuffer(payload, np.uint8)
    pos = np.array(starts, np.int64)
    end = np.array(ends, np.int64)
    alias = np.full(n, -1, np.int64)
    ts = np.zeros(n, np.int64)
    has_ts = np.zeros(n, bool)
    datatype = np.zeros(n, np.int64)
    historical = np.zeros(n, bool)
    null = np.zeros(n, bool)
    value = np.full(n, np.nan)
    has_value = np.zeros(n, bool)
    quality = np.full(n, 0xC0, np.int64)  # no Quality property: Good, as codec.decode reads it
    odd = np.zeros(n, bool)
    for _ in range(_MAX_ROUNDS):
        active = np.flatnonzero((pos < end) & ~odd)
        if len(active) == 0:
            break
        key = buf[pos[active]].astype(np.int64)
        multi = (key & 0x80) != 0  # a key of two bytes: a field number ≥ 16 (bytes, dataset, template values)
        odd[active[multi]] = True
        active, key = active[~multi], key[~multi]
        p_at = pos[active] + 1
        field, wire = key >> 3, key & 7
        # varints
        sel = wire == 0
        if sel.any():
            rows, f = active[sel], field[sel]
            v, after = _varints(buf, p_at[sel])
            pos[rows] = after
            # uint64 → int64: above 2**62 a value is no alias or time stamp a sender could mean; kept out of range
            iv = np.where(v > np.uint64(_HUGE), _HUGE, v.astype(np.int64))
            for number, column in ((_ALIAS, alias), (_TIMESTAMP, ts), (_DATATYPE, datatype)):
                m = f == number
                column[rows[m]] = iv[m]
            has_ts[rows[f == _TIMESTAMP]] = True
            historical[rows[f == _HISTORICAL]] = iv[f == _HISTORICAL] != 0
            null[rows[f == _NULL]] = iv[f == _NULL] != 0
            m = f == _BOOLEAN
            value[rows[m]] = (iv[m] != 0).astype(np.float64)
            has_value[rows[m]] = True
            odd[rows[~np.isin(f, (_ALIAS, _TIMESTAMP, _DATATYPE, _HISTORICAL, _TRANSIENT, _NULL, _BOOLEAN))]] = True
        # fixed 64: double_value; fixed 32: float_value (little-endian IEEE 754, as protobuf writes them)
        for wire_type, width, dtype, wanted in ((1, 8, "<f8", _DOUBLE), (5, 4, "<f4", _FLOAT)):
            sel = wire == wire_type
            if sel.any():
                rows, at = active[sel], p_at[sel]
                raw = buf[at[:, None] + np.arange(width)].copy().view(dtype).ravel().astype(np.float64)
                m = field[sel] == wanted
                value[rows[m]] = raw[m]
                has_value[rows[m]] = True
                odd[rows[~m]] = True
                pos[rows] = at + width
        # length-delimited: only the properties set is read here (a lone Quality), the rest is odd
        sel = wire == 2
        if sel.any():
            rows, f = active[sel], field[sel]
            length, at = _varints(buf, p_at[sel])
            ilen = length.astype(np.int64)
            pos[rows] = at + ilen
            m = f == _PROPERTIES
            odd[rows[~m]] = True
            prows, pat, plen = rows[m], at[m], ilen[m]
            q, ok = _lone_quality(buf, pat, plen)
            quality[prows[ok]] = q[ok]
            odd[prows[~ok]] = True
        odd[active[(wire == 3) | (wire == 4) | (wire > 5)]] = True
    else:
        odd[pos < end] = True
    # a datatype the fast path does not map (integers need their signedness, strings are NaN)
    odd |= has_value & ~np.isin(datatype, (codec.DOUBLE, codec.FLOAT, codec.BOOLEAN, 0))
    value[null] = np.nan
    value[~has_value & ~null] = np.nan
    quality = _map_quality(quality)
    names: dict[int, str] = {}
    reasons: dict[int, str] = {}
    default_ts = codec.from_ms(timestamp_ms) if timestamp_ms is not None else None
    for k in np.flatnonzero(odd).tolist():
        m = pb.Payload.Metric()
        m.ParseFromString(payload[starts[k]:ends[k]])
        d = codec.decode_metric(m, default_ts)
        alias[k] = -1 if d.alias is None else min(d.alias, _HUGE)
        ts[k], has_ts[k] = codec.to_ms(d.ts), True
        value[k], quality[k], historical[k] = d.value, int(d.quality), d.is_historical
        if d.name is not None:
            names[k] = d.name
        if d.reason:
            reasons[k] = d.reason
    missing_ts = ~has_ts
    if missing_ts.any():
        if timestamp_ms is None:
            raise codec.MalformedPayload("a metric has no timestamp and neither has the payload")
        ts[missing_ts] = timestamp_ms
    if ((ts < codec.MIN_MS) | (ts > codec.MAX_MS)).any():
        raise codec.MalformedPayload("a metric's time stamp is outside the years 1 to 9999")
    if ((alias < 0) & ~np.isin(np.arange(n), list(names))).any():
        raise codec.MalformedPayload("a metric has neither name nor alias")
    return DataColumns(timestamp_ms, seq, alias, ts, value, quality, historical, names, reasons)


def _lone_quality(buf: npt.NDArray[np.uint8], at: npt.NDArray[np.int64],
                  length: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """The Quality code of property sets that are exactly {keys: [Quality], values: [Int32 q]}, and where so.

    Bytes: 0a 07 "Quality" 12 L 08 03 18 <varint q>, L = 3 + varint length; anything else is not ours to read.
    """
    n = len(at)
    ok = (length >= 15) & (length <= 16)
    last = len(buf) - 1
    prefix = buf[np.minimum(at[:, None] + np.arange(len(_QUALITY_PREFIX)), last)]
    ok &= (prefix == _QUALITY_PREFIX).all(axis=1)

    def byte(offset: int) -> npt.NDArray[np.int64]:
        return buf[np.minimum(at + offset, last)].astype(np.int64)

    ok &= (byte(10) == length - 11) & (byte(11) == 0x08) & (byte(12) == codec.INT32) & (byte(13) == 0x18)
    lo, hi = byte(14), byte(15)
    one = (length == 15) & (lo < 0x80)
    two = (length == 16) & (lo >= 0x80) & (hi < 0x80)
    ok &= one | two
    q = np.where(two, (lo & 0x7F) | (hi << 7), lo)
    ok &= q <= 0xFFFF_FFFF
    return np.where(ok, q, 0) if n else q, ok


_KNOWN_QUALITY = np.full(256, -1, np.int64)
for _q in Quality:
    _KNOWN_QUALITY[int(_q)] = int(_q)


def _map_quality(code: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """``quality_from_code`` over an array: a known code as is, else its class (Bad, Uncertain, Good)."""
    out = np.full(len(code), int(Quality.BAD), np.int64)
    byte = (code >= 0) & (code <= 255)
    known = np.where(byte, _KNOWN_QUALITY[np.clip(code, 0, 255)], -1)
    out[known >= 0] = known[known >= 0]
    cls = code & 0xC0
    fallback = (known < 0) & np.isin(cls, (0x00, 0x40, 0xC0))
    out[fallback] = cls[fallback]
    return out
