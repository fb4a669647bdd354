"""float32 word order of the Modbus map (pure logic): ABCD high word first, CDAB low word first."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.facade.modbus_server import WordOrder, float_to_words, words_to_float


@pytest.mark.parametrize(("value", "abcd"), [(50.0, (0x4248, 0x0000)), (1.0, (0x3F80, 0x0000)),
                                             (-2.5, (0xC020, 0x0000)), (7.4, (0x40EC, 0xCCCD))])
def test_known_encodings(value: float, abcd: tuple[int, int]) -> None:
    assert float_to_words(value, WordOrder.ABCD) == abcd
    assert float_to_words(value, WordOrder.CDAB) == (abcd[1], abcd[0])


def test_nan_is_the_quiet_nan_a_plc_serves_for_a_failed_sensor() -> None:
    assert float_to_words(math.nan, WordOrder.ABCD) == (0x7FC0, 0x0000)
    assert math.isnan(words_to_float([0x7FC0, 0x0000], WordOrder.ABCD))


@given(st.floats(width=32, allow_nan=False), st.sampled_from(list(WordOrder)))
def test_round_trip_and_agreement_with_ieee754(value: float, order: WordOrder) -> None:
    words = float_to_words(value, order)
    assert words_to_float(list(words), order) == value
    hi, lo = words if order is WordOrder.ABCD else words[::-1]
    assert struct.unpack(">f", struct.pack(">HH", hi, lo))[0] == value
