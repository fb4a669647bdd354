"""Sparkplug B payloads ↔ plantctl samples: births carry unit, range and description, every value its quality.

The mapping (docs/fleet.md): a plantctl tag is a Double metric; its quality is the metric property
``Quality`` (Int32, the OPC DA byte: 192 good, 0 bad, as Ignition reads it), the reason of a
non-Good quality the String property ``QualityReason``; the NBIRTH adds ``engUnit`` (String),
``engLow``/``engHigh`` (Double) and ``Documentation`` (String), Ignition's property names.
NDATA repeats the datatype (independent decoders return null without it) and names metrics by alias.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from google.protobuf.message import DecodeError

from connectors.sparkplug import sparkplug_b_pb2 as pb
from plantctl.quality import Quality, quality_from_code
from plantctl.samples import Sample

NAMESPACE = "spBv1.0"
BD_SEQ = "bdSeq"
REBIRTH = "Node Control/Rebirth"

INT32 = pb.DataType.Value("Int32")
INT64 = pb.DataType.Value("Int64")
UINT64 = pb.DataType.Value("UInt64")
DOUBLE = pb.DataType.Value("Double")
FLOAT = pb.DataType.Value("Float")
BOOLEAN = pb.DataType.Value("Boolean")
STRING = pb.DataType.Value("String")

_INT_TYPES = {pb.DataType.Value(n) for n in ("Int8", "Int16", "Int32", "UInt8", "UInt16", "UInt32")}
_LONG_TYPES = {pb.DataType.Value(n) for n in ("Int64", "UInt64", "DateTime")}
_SIGNED_BITS = {pb.DataType.Value("Int8"): 8, pb.DataType.Value("Int16"): 16, INT32: 32, INT64: 64}


class MalformedPayload(ValueError):
    """A payload that is not a Sparkplug B message we can use: dropped and counted, never a crash."""


@dataclass(frozen=True, slots=True)
class MetricDef:
    """What an NBIRTH says of one tag once; NDATA then refers to it by alias."""

    name: str
    alias: int
    unit: str
    low: float
    high: float
    description: str = ""


@dataclass(frozen=True, slots=True)
class DecodedMetric:
    """One metric of a received payload, in plantctl terms (value NaN when null or not numeric)."""

    name: str | None
    alias: int | None
    ts: datetime
    value: float
    quality: Quality
    reason: str
    is_historical: bool
    datatype: int
    properties: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DecodedPayload:
    timestamp: datetime | None
    seq: int | None
    metrics: list[DecodedMetric]


def topic(group: str, kind: str, node: str) -> str:
    """spBv1.0/<group>/<NBIRTH|NDATA|NDEATH|NCMD>/<node>."""
    return f"{NAMESPACE}/{group}/{kind}/{node}"


def state_topic(host_id: str) -> str:
    return f"{NAMESPACE}/STATE/{host_id}"


def state_payload(online: bool, ts: datetime) -> bytes:
    """Sparkplug 3.0 STATE: JSON, retained, QoS 1; the timestamp orders a host's online/offline pair."""
    return json.dumps({"online": online, "timestamp": to_ms(ts)}).encode()


def parse_state(payload: bytes) -> tuple[bool, int]:
    """(online, timestamp ms) of a STATE message; MalformedPayload for anything else."""
    try:
        doc = json.loads(payload)
        return bool(doc["online"]), int(doc["timestamp"])
    except (ValueError, KeyError, TypeError) as exc:
        raise MalformedPayload(f"STATE payload is not {{online, timestamp}} JSON: {exc}") from exc


def to_ms(ts: datetime) -> int:
    return round(ts.timestamp() * 1000)


MIN_MS, MAX_MS = -62_135_596_800_000, 253_402_300_799_999  # what a datetime holds: years 1 to 9999


def from_ms(ms: int) -> datetime:
    """A Sparkplug time stamp; MalformedPayload for one no datetime can hold (a sender's garbage, not a crash)."""
    if not MIN_MS <= ms <= MAX_MS:
        raise MalformedPayload(f"time stamp {ms} ms is outside the years 1 to 9999")
    return datetime.fromtimestamp(ms / 1000, UTC)


def _set_property(props: pb.Payload.PropertySet, key: str, value: str | float | int) -> None:
    props.keys.append(key)
    pv = props.values.add()
    if isinstance(value, str):
        pv.type = STRING
        pv.string_value = value
    elif isinstance(value, float):
        pv.type = DOUBLE
        pv.double_value = value
    else:
        pv.type = INT32
        pv.int_value = value & 0xFFFFFFFF


def _fill_value(metric: pb.Payload.Metric, sample: Sample) -> None:
    metric.timestamp = to_ms(sample.ts)
    metric.datatype = DOUBLE
    if math.isnan(sample.value):
        metric.is_null = True
    else:
        metric.double_value = sample.value
    _set_property(metric.properties, "Quality", int(sample.quality))
    if sample.reason and not sample.quality.is_good:
        _set_property(metric.properties, "QualityReason", sample.reason)


def birth_payload(defs: Sequence[MetricDef], last: dict[str, Sample], bd_seq: int, ts: datetime) -> bytes:
    """NBIRTH (seq 0): bdSeq, Node Control/Rebirth and every tag with alias, unit, range, description."""
    p = pb.Payload(timestamp=to_ms(ts), seq=0)
    m = p.metrics.add(name=BD_SEQ, timestamp=to_ms(ts), datatype=INT64)
    m.long_value = bd_seq
    m = p.metrics.add(name=REBIRTH, timestamp=to_ms(ts), datatype=BOOLEAN)
    m.boolean_value = False
    for d in defs:
        m = p.metrics.add(name=d.name, alias=d.alias)
        _set_property(m.properties, "engUnit", d.unit)
        _set_property(m.properties, "engLow", float(d.low))
        _set_property(m.properties, "engHigh", float(d.high))
        if d.description:
            _set_property(m.properties, "Documentation", d.description)
        sample = last.get(d.name)
        if sample is None:
            m.timestamp = to_ms(ts)
            m.datatype = DOUBLE
            m.is_null = True
            _set_property(m.properties, "Quality", int(Quality.BAD_NOT_CONNECTED))
        else:
            _fill_value(m, sample)
    return bytes(p.SerializeToString())


def death_payload(bd_seq: int, ts: datetime) -> bytes:
    """NDEATH (the MQTT will): only bdSeq, equal to the NBIRTH's of the same session."""
    p = pb.Payload(timestamp=to_ms(ts))
    m = p.metrics.add(name=BD_SEQ, timestamp=to_ms(ts), datatype=INT64)
    m.long_value = bd_seq
    return bytes(p.SerializeToString())


def data_payload(seq: int, samples: Iterable[tuple[int | str, Sample]], ts: datetime, *,
                 historical: bool = False) -> bytes:
    """NDATA: (alias, sample) pairs, datatype repeated, is_historical for replayed spool; a str key goes as the
    metric name instead (the edge's spool records, which must outlive a change of aliases)."""
    p = pb.Payload(timestamp=to_ms(ts), seq=seq)
    for key, sample in samples:
        m = p.metrics.add(name=key) if isinstance(key, str) else p.metrics.add(alias=key)
        if historical:
            m.is_historical = True
        _fill_value(m, sample)
    return bytes(p.SerializeToString())


def rebirth_command(ts: datetime) -> bytes:
    """NCMD asking a node to re-publish its NBIRTH: the one command the central host ever sends."""
    p = pb.Payload(timestamp=to_ms(ts))
    m = p.metrics.add(name=REBIRTH, timestamp=to_ms(ts), datatype=BOOLEAN)
    m.boolean_value = True
    return bytes(p.SerializeToString())


def _signed(raw: int, datatype: int) -> int:
    bits = _SIGNED_BITS.get(datatype)
    if bits is not None and raw >= 1 << (bits - 1):
        return raw - (1 << bits)
    return raw


def _property_value(pv: pb.Payload.PropertyValue) -> object:
    if pv.is_null:
        return None
    which = pv.WhichOneof("value")
    if which == "int_value":
        return _signed(pv.int_value, pv.type)
    if which == "long_value":
        return _signed(pv.long_value, pv.type)
    if which in ("float_value", "double_value", "boolean_value", "string_value"):
        return getattr(pv, which)
    return None


def _metric_value(m: pb.Payload.Metric) -> float:
    if m.is_null:
        return math.nan
    which = m.WhichOneof("value")
    if which in ("int_value", "long_value"):
        return float(_signed(getattr(m, which), m.datatype))
    if which in ("float_value", "double_value"):
        return float(getattr(m, which))
    if which == "boolean_value":
        return 1.0 if m.boolean_value else 0.0
    return math.nan


def decode(payload: bytes) -> DecodedPayload:
    """Parse one NBIRTH/NDATA/NDEATH/NCMD body; MalformedPayload when protobuf cannot or it is unusable."""
    p = pb.Payload()
    try:
        p.ParseFromString(payload)
    except (DecodeError, RuntimeError, ValueError) as exc:  # protobuf raises DecodeError; upb may raise others
        raise MalformedPayload(f"not a Sparkplug B protobuf payload ({len(payload)} bytes): {exc}") from exc
    default_ts = from_ms(p.timestamp) if p.HasField("timestamp") else None
    metrics = [decode_metric(m, default_ts) for m in p.metrics]
    return DecodedPayload(timestamp=default_ts, seq=p.seq if p.HasField("seq") else None, metrics=metrics)


def decode_metric(m: pb.Payload.Metric, default_ts: datetime | None) -> DecodedMetric:
    """One metric in plantctl terms; MalformedPayload when it has no name nor alias, or no timestamp at all."""
    if not m.HasField("name") and not m.HasField("alias"):
        raise MalformedPayload("a metric has neither name nor alias")
    props = {k: _property_value(v) for k, v in zip(m.properties.keys, m.properties.values, strict=False)}
    ts = from_ms(m.timestamp) if m.HasField("timestamp") else default_ts
    if ts is None:
        raise MalformedPayload(f"metric {m.name or m.alias} has no timestamp and neither has the payload")
    code = props.get("Quality")
    quality = quality_from_code(code) if isinstance(code, int) else Quality.GOOD
    reason = props.get("QualityReason")
    return DecodedMetric(
        name=m.name if m.HasField("name") else None,
        alias=m.alias if m.HasField("alias") else None,
        ts=ts, value=_metric_value(m), quality=quality,
        reason=reason if isinstance(reason, str) else "",
        is_historical=m.is_historical, datatype=m.datatype, properties=props)
