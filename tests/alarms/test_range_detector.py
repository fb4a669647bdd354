"""The range alarm's fast path agrees with the connectors' range check on every kind of value (pure logic)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from plantctl.alarms.conditions import OutOfRange
from plantctl.config.models import TagConfig
from plantctl.config.plausibility import judge
from plantctl.plantfile import tag_config
from plantctl.quality import Quality

T0 = datetime(2026, 12, 1, tzinfo=UTC)
COD = tag_config({"name": "COD-101", "unit": "mg/L", "range": {"low": 0, "high": 1500}, "source": "PLC",
                  "modbus": {"table": "input_register", "address": 0}})
TEMP = tag_config({"name": "TT-101", "unit": "degC", "range": {"low": -100, "high": 100}, "source": "PLC",
                   "modbus": {"table": "input_register", "address": 2}, "hard_limits": {"low": -150, "high": 150}})


@pytest.mark.parametrize("tag", [COD, TEMP], ids=lambda t: t.name)
@pytest.mark.parametrize("value", [0.0, 2.3e-41, -1e-12, 1e-3, 750.0, 1500.0, 1575.0, 1575.1, -75.1, 99.0, 105.0,
                                   110.0, 160.0, 8.6e9, 65494.0, -1e30, math.inf])
def test_the_detector_says_what_judge_says(tag: TagConfig, value: float) -> None:
    detector = OutOfRange(tag)
    assert detector.evaluate(value, Quality.GOOD, T0) is (not judge(tag, value)[0].is_good)


def test_a_link_fault_holds_the_alarm() -> None:
    detector = OutOfRange(COD)
    assert detector.evaluate(math.nan, Quality.BAD_NOT_CONNECTED, T0) is None
    assert detector.evaluate(8.6e9, Quality.BAD_COMM_FAILURE, T0) is None
    assert detector.evaluate(8.6e9, Quality.BAD, T0) is True  # the range check's own Bad
