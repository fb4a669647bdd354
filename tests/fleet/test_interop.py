"""Our payloads decode with Eclipse Tahu's JavaScript codec (npm sparkplug-payload), and theirs with ours."""

from __future__ import annotations

import base64
import json
import math
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.sparkplug import codec
from plantctl.quality import Quality
from plantctl.samples import Sample

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("tahu_codec.js")
T0 = datetime(2026, 12, 5, 2, 0, 0, 250000, tzinfo=UTC)



def tahu(mode: str, text: str) -> str:
    done = subprocess.run(["node", str(SCRIPT), mode], input=text, capture_output=True, text=True, cwd=REPO,
                          timeout=30, check=True)
    return done.stdout


def tahu_decode(raw: bytes) -> dict[str, Any]:
    return dict(json.loads(tahu("decode", base64.b64encode(raw).decode())))


def test_tahu_decodes_our_birth_with_aliases_types_properties_and_bdseq() -> None:
    defs = [codec.MetricDef("AIT-101", 1, "pH", 0.0, 14.0, "outlet pH"), codec.MetricDef("FIT-101", 2, "m3/h", 0, 50)]
    raw = codec.birth_payload(defs, {"AIT-101": Sample("AIT-101", T0, 7.25)}, bd_seq=7, ts=T0)
    p = tahu_decode(raw)
    assert p["seq"] == 0 and p["timestamp"] == codec.to_ms(T0)
    m = {x["name"]: x for x in p["metrics"]}
    assert (m["bdSeq"]["type"], m["bdSeq"]["value"]) == ("Int64", 7)
    assert (m["Node Control/Rebirth"]["type"], m["Node Control/Rebirth"]["value"]) == ("Boolean", False)
    ph = m["AIT-101"]
    assert (ph["alias"], ph["type"], ph["value"], ph["timestamp"]) == (1, "Double", 7.25, codec.to_ms(T0))
    assert ph["properties"]["engUnit"] == {"type": "String", "value": "pH"}
    assert ph["properties"]["engHigh"] == {"type": "Double", "value": 14.0}
    assert ph["properties"]["Documentation"]["value"] == "outlet pH"
    assert ph["properties"]["Quality"] == {"type": "Int32", "value": 192}
    assert m["FIT-101"]["value"] is None and m["FIT-101"]["properties"]["Quality"]["value"] == int(
        Quality.BAD_NOT_CONNECTED)


def test_tahu_decodes_our_historical_data_by_alias_and_death() -> None:
    bad = Sample("x", T0 + timedelta(seconds=1), 3.5, Quality.BAD_COMM_FAILURE, "Modbus timeout")
    p = tahu_decode(codec.data_payload(200, [(1, Sample("x", T0, 7.0)), (2, bad)], T0, historical=True))
    assert p["seq"] == 200
    first, second = p["metrics"]
    assert "name" not in first or first["name"] in (None, "")
    assert (first["alias"], first["type"], first["value"], first["isHistorical"]) == (1, "Double", 7.0, True)
    assert second["properties"]["Quality"]["value"] == int(Quality.BAD_COMM_FAILURE)
    assert second["properties"]["QualityReason"]["value"] == "Modbus timeout"
    death = tahu_decode(codec.death_payload(7, T0))
    assert [(x["name"], x["value"]) for x in death["metrics"]] == [("bdSeq", 7)]


def test_we_decode_what_tahu_encodes() -> None:
    ms = codec.to_ms(T0)
    doc = {"timestamp": ms, "seq": 4, "metrics": [
        {"name": "LT-201", "alias": 3, "timestamp": ms, "type": "Double", "value": 2.75,
         "properties": {"engUnit": {"type": "String", "value": "m"}, "Quality": {"type": "Int32", "value": 192}}},
        {"name": "TT-1", "timestamp": ms + 1000, "type": "Float", "value": 21.5},
        {"name": "count", "timestamp": ms, "type": "Int32", "value": -12},
        {"name": "big", "timestamp": ms, "type": "UInt64", "value": 1234567890123},
        {"name": "pump", "timestamp": ms, "type": "Boolean", "value": True, "isHistorical": True},
        {"name": "gone", "timestamp": ms, "type": "Double", "value": None,
         "properties": {"Quality": {"type": "Int32", "value": 0}}},
    ]}
    d = codec.decode(base64.b64decode(tahu("encode", json.dumps(doc))))
    assert d.seq == 4 and d.timestamp == T0
    m = {x.name: x for x in d.metrics}
    assert (m["LT-201"].alias, m["LT-201"].value, m["LT-201"].properties["engUnit"]) == (3, 2.75, "m")
    assert m["TT-1"].value == 21.5 and m["TT-1"].ts == T0 + timedelta(seconds=1)
    assert m["count"].value == -12.0
    assert m["big"].value == 1234567890123.0
    assert (m["pump"].value, m["pump"].is_historical) == (1.0, True)
    assert math.isnan(m["gone"].value) and m["gone"].quality == Quality.BAD
    assert m["LT-201"].quality == Quality.GOOD
