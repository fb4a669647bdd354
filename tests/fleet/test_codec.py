"""The Sparkplug B codec: births carry the tag's metadata, values their quality, garbage is refused."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from connectors.sparkplug import codec
from connectors.sparkplug import sparkplug_b_pb2 as pb
from plantctl.quality import Quality
from plantctl.samples import Sample

T0 = datetime(2026, 12, 5, 2, 0, 0, 123000, tzinfo=UTC)


def test_birth_carries_alias_datatype_unit_range_description_and_bdseq() -> None:
    defs = [codec.MetricDef("AIT-101", 1, "pH", 0.0, 14.0, "clarifier outlet pH"),
            codec.MetricDef("FIT-101", 2, "m3/h", 0.0, 50.0)]
    raw = codec.birth_payload(defs, {"AIT-101": Sample("AIT-101", T0, 7.25)}, bd_seq=3, ts=T0)
    p = pb.Payload.FromString(raw)
    assert p.seq == 0
    by_name = {m.name: m for m in p.metrics}
    assert by_name["bdSeq"].long_value == 3 and by_name["bdSeq"].datatype == pb.DataType.Value("Int64")
    assert by_name["Node Control/Rebirth"].boolean_value is False
    ph = by_name["AIT-101"]
    assert ph.alias == 1 and ph.datatype == pb.DataType.Value("Double") and ph.double_value == 7.25
    props = dict(zip(ph.properties.keys, ph.properties.values, strict=True))
    assert props["engUnit"].string_value == "pH"
    assert (props["engLow"].double_value, props["engHigh"].double_value) == (0.0, 14.0)
    assert props["Documentation"].string_value == "clarifier outlet pH"
    assert props["Quality"].int_value == 192
    flow = by_name["FIT-101"]  # no value yet: null, Bad not connected, still described
    assert flow.is_null and "Documentation" not in flow.properties.keys
    decoded = {m.name: m for m in codec.decode(raw).metrics}
    assert decoded["FIT-101"].quality == Quality.BAD_NOT_CONNECTED and math.isnan(decoded["FIT-101"].value)
    assert decoded["AIT-101"].properties["engHigh"] == 14.0


def test_data_by_alias_round_trips_value_time_quality_reason_and_history_flag() -> None:
    bad = Sample("x", T0 + timedelta(seconds=1), 3.5, Quality.BAD_COMM_FAILURE, "Modbus timeout")
    raw = codec.data_payload(17, [(1, Sample("x", T0, 7.0)), (2, bad)], T0, historical=True)
    p = pb.Payload.FromString(raw)
    assert all(not m.HasField("name") and m.datatype == pb.DataType.Value("Double") for m in p.metrics)
    d = codec.decode(raw)
    assert d.seq == 17
    first, second = d.metrics
    assert (first.alias, first.ts, first.value, first.quality, first.is_historical) == (1, T0, 7.0, Quality.GOOD, True)
    assert (second.alias, second.quality, second.reason) == (2, Quality.BAD_COMM_FAILURE, "Modbus timeout")
    assert second.ts == T0 + timedelta(seconds=1)


def test_signed_integers_from_other_implementations_decode_negative() -> None:
    p = pb.Payload(timestamp=codec.to_ms(T0), seq=1)
    m = p.metrics.add(alias=5, datatype=pb.DataType.Value("Int32"))
    m.int_value = (-40) & 0xFFFFFFFF
    m = p.metrics.add(alias=6, datatype=pb.DataType.Value("Boolean"))
    m.boolean_value = True
    d = codec.decode(p.SerializeToString())
    assert [x.value for x in d.metrics] == [-40.0, 1.0]
    assert d.metrics[0].ts == T0  # falls back to the payload's timestamp


@pytest.mark.parametrize("raw", [b"\xff\xff\xff", b"\x12\x02\x08", b"not protobuf at all \x00\x01"])
def test_garbage_is_a_malformed_payload_not_a_crash(raw: bytes) -> None:
    with pytest.raises(codec.MalformedPayload):
        codec.decode(raw)


def test_metric_without_name_or_alias_is_malformed() -> None:
    p = pb.Payload(timestamp=1, seq=0)
    p.metrics.add(datatype=pb.DataType.Value("Double"), double_value=1.0)
    with pytest.raises(codec.MalformedPayload, match="neither name nor alias"):
        codec.decode(p.SerializeToString())


def test_state_payload_round_trip_and_rejects_other_json() -> None:
    assert codec.parse_state(codec.state_payload(True, T0)) == (True, codec.to_ms(T0))
    with pytest.raises(codec.MalformedPayload):
        codec.parse_state(b'{"on": 1}')
    assert codec.topic("recyclers", "NDATA", "site-a") == "spBv1.0/recyclers/NDATA/site-a"
