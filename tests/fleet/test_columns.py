"""NDATA as columns (connectors/sparkplug/columns.py) reads every payload exactly as codec.decode does."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from connectors.sparkplug import codec
from connectors.sparkplug import sparkplug_b_pb2 as pb
from connectors.sparkplug.columns import decode_columns
from plantctl.quality import Quality
from plantctl.samples import Sample

T = datetime(2026, 12, 5, 7, 0, 0, 125_000, tzinfo=UTC)


def assert_same(payload: bytes) -> None:
    """Row k of the columns is metric k of codec.decode: alias, name, time, value, quality, reason, historical."""
    d = codec.decode(payload)
    c = decode_columns(payload)
    assert c.seq == d.seq
    assert len(c) == len(d.metrics)
    for k, m in enumerate(d.metrics):
        assert (int(c.alias[k]) if c.alias[k] >= 0 else None) == m.alias, k
        assert c.names.get(k) == m.name, k
        assert int(c.ts_ms[k]) == codec.to_ms(m.ts), k
        v = float(c.value[k])
        assert (math.isnan(v) and math.isnan(m.value)) or v == m.value, (k, v, m.value)
        assert int(c.quality[k]) == int(m.quality), k
        assert c.reasons.get(k, "") == m.reason, k
        assert bool(c.historical[k]) == m.is_historical, k


def test_our_ndata_live_and_historical_with_every_quality_and_aliases_of_one_and_two_bytes() -> None:
    items: list[tuple[int | str, Sample]] = []
    for j, q in enumerate(list(Quality) * 20):
        reason = "sensor broke" if q.is_bad and j % 3 == 0 else ""
        value = math.nan if j % 11 == 0 else 7.0 + j / 1000
        items.append((j + 1, Sample(f"AIT-{j}", T, value, q, reason)))
    items.append(("AIT-by-name", Sample("x", T, 3.25)))  # the edge's spool records go by name
    assert_same(codec.data_payload(17, items, T))
    assert_same(codec.data_payload(0, items, T, historical=True))


def test_other_implementations_datatypes_defaults_and_properties() -> None:
    p = pb.Payload(timestamp=codec.to_ms(T), seq=4)
    p.metrics.add(alias=1, datatype=codec.INT32).int_value = (-5) & 0xFFFFFFFF
    p.metrics.add(alias=2, datatype=codec.FLOAT).float_value = 1.5
    p.metrics.add(alias=3, datatype=codec.BOOLEAN).boolean_value = True
    p.metrics.add(name="text", datatype=codec.STRING).string_value = "hi"
    p.metrics.add(alias=300, timestamp=99, datatype=codec.DOUBLE).double_value = 2.5  # own time stamp
    p.metrics.add(alias=301, datatype=codec.DOUBLE, is_null=True)
    p.metrics.add(alias=302, datatype=codec.DOUBLE)  # no value at all
    p.metrics.add(alias=303, datatype=codec.INT64).long_value = 2**64 - 2
    m = p.metrics.add(alias=304, datatype=codec.DOUBLE)
    m.double_value = 1.0
    m.properties.keys.append("Quality")  # a quality code no Quality member has: its class
    m.properties.values.add(type=codec.INT32, int_value=0x47)
    m = p.metrics.add(alias=305, datatype=codec.DOUBLE)
    m.double_value = 1.0
    m.properties.keys.extend(["engUnit", "Quality"])
    m.properties.values.add(type=codec.STRING, string_value="pH")
    m.properties.values.add(type=codec.INT32, int_value=0x40)
    m = p.metrics.add(alias=306, datatype=codec.DOUBLE, is_transient=True)
    m.double_value = 9.0
    m.properties.keys.append("Quality")
    m.properties.values.add(type=codec.INT32, int_value=300)  # not a byte: its class, as quality_from_code says
    assert_same(p.SerializeToString())
    last = p.metrics.add(alias=307, datatype=pb.DataType.Value("Bytes"))
    last.bytes_value = b"\x09"  # field 16: a two-byte key, last in the payload
    assert_same(p.SerializeToString())


def test_births_deaths_and_an_empty_payload() -> None:
    defs = [codec.MetricDef(f"A{j}", j + 1, "pH", 0.0, 14.0, "doc") for j in range(5)]
    assert_same(codec.birth_payload(defs, {"A1": Sample("A1", T, 7.5)}, 3, T))
    assert_same(codec.death_payload(2, T))
    assert_same(b"")


@pytest.mark.parametrize(("payload", "why"), [
    (b"\xff\xfe garbage", "not a Sparkplug B protobuf"),
    (pb.Payload(seq=1, metrics=[pb.Payload.Metric(alias=1, datatype=codec.DOUBLE, double_value=1.0)])
     .SerializeToString(), "no timestamp"),
    (pb.Payload(timestamp=1, metrics=[pb.Payload.Metric(datatype=codec.DOUBLE, double_value=1.0)])
     .SerializeToString(), "neither name nor alias"),
    (pb.Payload(timestamp=1, metrics=[pb.Payload.Metric(alias=1, timestamp=2**63 + 5, datatype=codec.DOUBLE,
                                                        double_value=1.0)]).SerializeToString(), "years 1 to 9999"),
])
def test_what_decode_refuses_columns_refuse_alike(payload: bytes, why: str) -> None:
    with pytest.raises(codec.MalformedPayload, match=why):
        decode_columns(payload)
    with pytest.raises(codec.MalformedPayload):
        codec.decode(payload)
