"""Registers ⇄ engineering values for every Modbus data type and byte order; pure, no I/O.

Modbus Application Protocol V1.1b3 §4.2 defines big-endian bytes inside one 16-bit register and
says nothing about multi-register values, so devices differ. A value's bytes in big-endian order
are named A B C D … (A most significant); the configured order says how they lie in the registers:
ABCD big-endian, CDAB words swapped, BADC bytes swapped in each word, DCBA fully little-endian.
For 64-bit values the same rule applies word by word (CDAB reverses the four words). A 16-bit
value follows the byte rule only (BADC and DCBA swap its two bytes). A ``bit`` tag reads bit N of
the register as the device sent it (bit 0 = least significant).
"""

from __future__ import annotations

import math
import struct

from connectors.modbus.config import ByteOrder, ModbusType
from plantctl.config.models import LinearScaling

_FORMAT: dict[ModbusType, str] = {
    ModbusType.INT16: ">h",
    ModbusType.UINT16: ">H",
    ModbusType.INT32: ">i",
    ModbusType.UINT32: ">I",
    ModbusType.INT64: ">q",
    ModbusType.FLOAT32: ">f",
    ModbusType.FLOAT64: ">d",
}
_SWAPS_BYTES = {ByteOrder.BADC, ByteOrder.DCBA}
_SWAPS_WORDS = {ByteOrder.CDAB, ByteOrder.DCBA}
_INT_LIMITS: dict[ModbusType, tuple[int, int]] = {
    ModbusType.INT16: (-(2**15), 2**15 - 1),
    ModbusType.UINT16: (0, 2**16 - 1),
    ModbusType.INT32: (-(2**31), 2**31 - 1),
    ModbusType.UINT32: (0, 2**32 - 1),
    ModbusType.INT64: (-(2**63), 2**63 - 1),
}


class CodecError(ValueError):
    """A value that cannot be encoded or registers that cannot be decoded for the given type."""


def _words_from_bytes(raw: bytes, order: ByteOrder) -> list[int]:
    words = [raw[i : i + 2] for i in range(0, len(raw), 2)]
    if order in _SWAPS_BYTES:
        words = [w[::-1] for w in words]
    if order in _SWAPS_WORDS:
        words.reverse()
    return [int.from_bytes(w, "big") for w in words]


def _bytes_from_words(registers: list[int], order: ByteOrder) -> bytes:
    words = [r.to_bytes(2, "big") for r in registers]
    if order in _SWAPS_WORDS:
        words.reverse()
    if order in _SWAPS_BYTES:
        words = [w[::-1] for w in words]
    return b"".join(words)


def decode_exact(kind: ModbusType, registers: list[int], order: ByteOrder, bit: int | None = None) -> int | float:
    """The raw number `registers` hold as `kind` in byte `order`; integers stay exact (int64)."""
    if kind is ModbusType.BOOL:
        raise CodecError("bool values come from coils/discrete inputs, not registers")
    if len(registers) != kind.registers:
        raise CodecError(f"{kind.value} needs {kind.registers} registers, got {len(registers)}")
    if any(not 0 <= r <= 0xFFFF for r in registers):
        raise CodecError(f"register value out of 0..65535 in {registers}")
    if kind is ModbusType.BIT:
        if bit is None:
            raise CodecError("type bit needs a bit number")
        return (registers[0] >> bit) & 1
    (value,) = struct.unpack(_FORMAT[kind], _bytes_from_words(registers, order))
    return value  # type: ignore[no-any-return]


def decode(kind: ModbusType, registers: list[int], order: ByteOrder, bit: int | None = None) -> float:
    """The raw (unscaled) value as a sample carries it (float64: int64 beyond 2**53 rounds)."""
    return float(decode_exact(kind, registers, order, bit))


def encode(kind: ModbusType, raw: float | int, order: ByteOrder) -> list[int]:
    """Registers that make the device hold the raw number `raw` as `kind` in byte `order`."""
    if kind in (ModbusType.BOOL, ModbusType.BIT):
        raise CodecError(f"{kind.value} is written as a coil or a whole register, not encoded")
    if kind in _INT_LIMITS:
        if isinstance(raw, float) and (not math.isfinite(raw) or raw != round(raw)):
            raise CodecError(f"{raw!r} is not a whole number; {kind.value} holds integers only")
        low, high = _INT_LIMITS[kind]
        if not low <= int(raw) <= high:
            raise CodecError(f"{int(raw)} does not fit {kind.value} ({low}..{high})")
        packed = struct.pack(_FORMAT[kind], int(raw))
    else:
        try:
            packed = struct.pack(_FORMAT[kind], raw)
        except (OverflowError, struct.error) as exc:
            raise CodecError(f"{raw!r} does not fit {kind.value}") from exc
    return _words_from_bytes(packed, order)


def to_engineering(raw: float, scaling: LinearScaling | None, low: float, high: float) -> float:
    """Raw device counts → engineering units ([raw_low, raw_high] maps linearly onto [low, high])."""
    if scaling is None:
        return raw
    return low + (raw - scaling.raw_low) * (high - low) / (scaling.raw_high - scaling.raw_low)


def to_raw(value: float, scaling: LinearScaling | None, low: float, high: float) -> float:
    """Engineering units → raw device counts; the inverse of :func:`to_engineering`."""
    if scaling is None:
        return value
    return scaling.raw_low + (value - low) * (scaling.raw_high - scaling.raw_low) / (high - low)
