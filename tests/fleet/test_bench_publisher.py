"""The fleet bench's light publishers send exactly what the codec would: the bench measures our payloads."""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from connectors.sparkplug import codec
from plantctl.samples import Sample

BENCH = Path(__file__).resolve().parents[2] / "bench" / "fleet.py"


def _bench_module() -> object:
    spec = importlib.util.spec_from_file_location("bench_fleet", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_fleet"] = module
    spec.loader.exec_module(module)
    return module


def test_template_payload_is_byte_for_byte_the_codecs_ndata() -> None:
    bench = _bench_module()
    t0 = codec.to_ms(datetime(2026, 12, 5, 7, 0, tzinfo=UTC))
    template = bench.NdataTemplate(300, t0)  # type: ignore[attr-defined]  # aliases of one and two bytes
    for tick, seq in ((0, 1), (1, 2), (7, 255), (8, 0)):
        ts_ms = t0 + tick * 1000 + 3
        values = 7.0 + (tick + np.arange(300)) % 100 / 100
        ts = codec.from_ms(ts_ms)
        expected = codec.data_payload(seq, [(j + 1, Sample(f"AIT-{j:04d}", ts, float(values[j]))) for j in range(300)],
                                      ts)
        assert template.payload(seq, ts_ms, values) == expected
