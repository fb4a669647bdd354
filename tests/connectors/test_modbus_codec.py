"""Codec: known register vectors per byte order, and round trips for every type × order."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.modbus.codec import (
    CodecError,
    decode,
    decode_exact,
    encode,
    to_engineering,
    to_raw,
)
from connectors.modbus.config import ByteOrder, ModbusType
from plantctl.config.models import LinearScaling

# float32 123.456 is 0x42F6E979 (IEEE 754 big-endian bytes A=42 B=F6 C=E9 D=79).
FLOAT_123_456 = {
    ByteOrder.ABCD: [0x42F6, 0xE979],
    ByteOrder.CDAB: [0xE979, 0x42F6],
    ByteOrder.BADC: [0xF642, 0x79E9],
    ByteOrder.DCBA: [0x79E9, 0xF642],
}
INT64_0102 = {  # 0x0102030405060708
    ByteOrder.ABCD: [0x0102, 0x0304, 0x0506, 0x0708],
    ByteOrder.CDAB: [0x0708, 0x0506, 0x0304, 0x0102],
    ByteOrder.BADC: [0x0201, 0x0403, 0x0605, 0x0807],
    ByteOrder.DCBA: [0x0807, 0x0605, 0x0403, 0x0201],
}
INT32_12345678 = {
    ByteOrder.ABCD: [0x1234, 0x5678],
    ByteOrder.CDAB: [0x5678, 0x1234],
    ByteOrder.BADC: [0x3412, 0x7856],
    ByteOrder.DCBA: [0x7856, 0x3412],
}


@pytest.mark.parametrize("order", list(ByteOrder))
def test_float32_123_456_known_words(order: ByteOrder) -> None:
    assert encode(ModbusType.FLOAT32, 123.456, order) == FLOAT_123_456[order]
    value = decode(ModbusType.FLOAT32, FLOAT_123_456[order], order)
    assert value == pytest.approx(123.456, rel=1e-7)


@pytest.mark.parametrize("order", list(ByteOrder))
def test_int64_known_words(order: ByteOrder) -> None:
    assert encode(ModbusType.INT64, 0x0102030405060708, order) == INT64_0102[order]
    assert decode_exact(ModbusType.INT64, INT64_0102[order], order) == 0x0102030405060708


@pytest.mark.parametrize("order", list(ByteOrder))
def test_int32_known_words(order: ByteOrder) -> None:
    assert encode(ModbusType.INT32, 0x12345678, order) == INT32_12345678[order]
    assert decode(ModbusType.UINT32, INT32_12345678[order], order) == 0x12345678


def test_sixteen_bit_values_swap_bytes_only_in_badc_and_dcba() -> None:
    assert encode(ModbusType.UINT16, 0x1234, ByteOrder.ABCD) == [0x1234]
    assert encode(ModbusType.UINT16, 0x1234, ByteOrder.CDAB) == [0x1234]
    assert encode(ModbusType.UINT16, 0x1234, ByteOrder.BADC) == [0x3412]
    assert decode(ModbusType.INT16, [0xFEFF], ByteOrder.DCBA) == -2
    assert decode(ModbusType.INT16, [0xFFFE], ByteOrder.ABCD) == -2


def test_bit_in_register_counts_from_least_significant() -> None:
    assert decode(ModbusType.BIT, [0b1000_0000_0000_0100], ByteOrder.ABCD, bit=2) == 1.0
    assert decode(ModbusType.BIT, [0b1000_0000_0000_0100], ByteOrder.ABCD, bit=1) == 0.0
    assert decode(ModbusType.BIT, [0x8000], ByteOrder.DCBA, bit=15) == 1.0


def _struct_words(fmt: str, value: float | int) -> list[int]:
    raw = struct.pack(">" + fmt, value)
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


INT_TYPES = {
    ModbusType.INT16: ("h", st.integers(-(2**15), 2**15 - 1)),
    ModbusType.UINT16: ("H", st.integers(0, 2**16 - 1)),
    ModbusType.INT32: ("i", st.integers(-(2**31), 2**31 - 1)),
    ModbusType.UINT32: ("I", st.integers(0, 2**32 - 1)),
    ModbusType.INT64: ("q", st.integers(-(2**63), 2**63 - 1)),
}


@pytest.mark.parametrize("kind", list(INT_TYPES))
@given(data=st.data())
def test_integers_round_trip_and_match_struct_in_abcd(kind: ModbusType, data: st.DataObject) -> None:
    fmt, values = INT_TYPES[kind]
    value = data.draw(values)
    order = data.draw(st.sampled_from(list(ByteOrder)))
    assert decode_exact(kind, encode(kind, value, order), order) == value
    assert encode(kind, value, ByteOrder.ABCD) == _struct_words(fmt, value)


@given(
    value=st.floats(width=32, allow_nan=False),
    order=st.sampled_from(list(ByteOrder)),
)
def test_float32_round_trips_exactly(value: float, order: ByteOrder) -> None:
    assert decode(ModbusType.FLOAT32, encode(ModbusType.FLOAT32, value, order), order) == value


@given(value=st.floats(allow_nan=False), order=st.sampled_from(list(ByteOrder)))
def test_float64_round_trips_exactly(value: float, order: ByteOrder) -> None:
    assert decode(ModbusType.FLOAT64, encode(ModbusType.FLOAT64, value, order), order) == value


@given(words=st.lists(st.integers(0, 0xFFFF), min_size=2, max_size=2))
def test_any_two_words_decode_without_crashing(words: list[int]) -> None:
    for order in ByteOrder:
        value = decode(ModbusType.FLOAT32, words, order)
        assert isinstance(value, float)


def test_bad_inputs_give_clear_errors() -> None:
    with pytest.raises(CodecError, match="needs 2 registers"):
        decode(ModbusType.FLOAT32, [1], ByteOrder.ABCD)
    with pytest.raises(CodecError, match="does not fit int16"):
        encode(ModbusType.INT16, 40000, ByteOrder.ABCD)
    with pytest.raises(CodecError, match="whole number"):
        encode(ModbusType.UINT16, 1.5, ByteOrder.ABCD)
    with pytest.raises(CodecError, match="does not fit float32"):
        encode(ModbusType.FLOAT32, 1e300, ByteOrder.ABCD)


@given(
    raw=st.floats(-1e6, 1e6),
    lo=st.floats(-1e3, 1e3),
    span=st.floats(1e-3, 1e3),
)
def test_scaling_inverts(raw: float, lo: float, span: float) -> None:
    scaling = LinearScaling(raw_low=0, raw_high=27648)  # Siemens analog-input counts
    eu = to_engineering(raw, scaling, lo, lo + span)
    # float rounding of eu is amplified by the slope raw/eu: allow a few ulps of eu in raw terms
    slack = 8 * math.ulp(abs(eu) + abs(lo) + span) * 27648 / span
    assert math.isclose(to_raw(eu, scaling, lo, lo + span), raw, rel_tol=1e-9, abs_tol=slack + 1e-9)


def test_scaling_known_point() -> None:
    scaling = LinearScaling(raw_low=0, raw_high=27648)
    assert to_engineering(13824, scaling, 0.0, 14.0) == pytest.approx(7.0)
    assert to_engineering(5.5, None, 0.0, 14.0) == 5.5
