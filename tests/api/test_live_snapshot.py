"""The pre-encoded live table: the same JSON the response model gives, and never stale after a change."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from pathlib import Path

from api.live_snapshot import EncodedLive
from api.routers.live import LiveSnapshot
from api.schemas import sample_out
from plantctl.plantfile import load_plant
from plantctl.quality import Quality
from plantctl.runtime.live import LiveCache
from plantctl.samples import Sample, utcnow

PLANT = load_plant(Path(__file__).resolve().parents[2] / "examples" / "plant.yaml")
UNITS = {t.name: t.unit for t in PLANT.tags}


def _model_json(live: LiveCache, wanted: set[str] | None = None) -> object:
    values = live.snapshot(wanted)
    model = LiveSnapshot(values=[sample_out(s, UNITS.get(n, "")) for n, s in sorted(values.items())])
    return json.loads(model.model_dump_json())


def test_encoded_table_matches_the_response_model_and_follows_every_change() -> None:
    live = LiveCache()
    encoded = EncodedLive(live, PLANT)
    assert json.loads(encoded.body(None)) == {"values": []}
    t0 = utcnow()
    live.update([Sample("AIT-101", t0, 7.25), Sample("FIT-100", t0, math.nan, Quality.BAD_COMM_FAILURE, "link")])
    first = encoded.body(None)
    assert json.loads(first) == _model_json(live)
    assert encoded.body(None) is first  # unchanged cache: the same bytes, not encoded again

    live.update([Sample("AIT-101", t0 + timedelta(seconds=1), 7.5), Sample("TIT-101", t0, 21.0)])
    after = json.loads(encoded.body(None))
    assert after == _model_json(live)
    assert [v["tag"] for v in after["values"]] == ["AIT-101", "FIT-100", "TIT-101"]
    assert after["values"][0]["value"] == 7.5

    assert json.loads(encoded.body({"TIT-101", "AIT-101"})) == _model_json(live, {"TIT-101", "AIT-101"})
    assert [json.loads(f)["tag"] for f in encoded.fragments({"FIT-100"})] == ["FIT-100"]


def test_a_late_older_sample_changes_nothing() -> None:
    live = LiveCache()
    encoded = EncodedLive(live, PLANT)
    t0 = utcnow()
    live.update([Sample("AIT-101", t0, 7.25)])
    before = encoded.body(None)
    live.update([Sample("AIT-101", t0 - timedelta(seconds=5), 3.0)])
    assert encoded.body(None) == before
