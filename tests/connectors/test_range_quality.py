"""Issue 17 problem 1: a wrong word order or data type must not be stored as Good (real Modbus and OPC UA servers)."""

from __future__ import annotations

import struct

import pytest

from connectors.modbus.source import ModbusSource
from plantctl.quality import Quality
from tests.connectors.modbus_server import FC_INPUT, device, modbus_server, wait_until
from tests.connectors.test_modbus_source import Collector, mtag, source_config

pytestmark = pytest.mark.anyio


def f32(value: float, order: str) -> list[int]:
    """Registers of a float32 laid out in `order`, computed with struct (independent of the codec)."""
    hi, lo = struct.unpack(">HH", struct.pack(">f", value))
    return [hi, lo] if order == "ABCD" else [lo, hi]


async def test_wrong_word_order_or_type_is_not_stored_good() -> None:
    tags = [
        # device holds CDAB, tag configured ABCD (the default): reads ~2.3e-41-like denormal nonsense
        mtag("COD.cdab_as_abcd", "input_register", 0, "float32", low=0, high=1500),
        # device holds ABCD, tag configured CDAB: reads ~8.6e9
        mtag("COD.abcd_as_cdab", "input_register", 2, "float32", low=0, high=1500, byte_order="CDAB"),
        # device holds int16 −42, tag configured uint16: reads 65494
        mtag("T.int_as_uint", "input_register", 4, "uint16", low=-100, high=100),
        # a real process excursion just past the range: Uncertain, not Bad
        mtag("FT.over", "input_register", 6, "float32", low=0, high=100),
        # inside the margin (default 5 % of span): still Good
        mtag("FT.margin", "input_register", 8, "float32", low=0, high=100),
        # beyond the configured hard limit: Bad
        mtag("FT.hard", "input_register", 10, "float32", low=0, high=100, hard_limits={"low": -10, "high": 120}),
        mtag("FT.fine", "input_register", 12, "float32", low=0, high=100),
    ]
    async with modbus_server(device(1)) as server:
        await server.set(1, FC_INPUT, 0, f32(0.5, "CDAB"))
        await server.set(1, FC_INPUT, 2, f32(1234.5, "ABCD"))
        await server.set(1, FC_INPUT, 4, [(-42) & 0xFFFF])
        await server.set(1, FC_INPUT, 6, f32(130.0, "ABCD"))
        await server.set(1, FC_INPUT, 8, f32(104.0, "ABCD"))
        await server.set(1, FC_INPUT, 10, f32(125.0, "ABCD"))
        await server.set(1, FC_INPUT, 12, f32(42.0, "ABCD"))
        got = Collector()
        source = ModbusSource(source_config(server.port), tags, got)
        await source.start()
        try:
            await wait_until(lambda: all(got.last(t.name) for t in tags), 5, "every tag read")
        finally:
            await source.stop()

    def last(name: str) -> tuple[Quality, str, float]:
        s = got.last(name)
        assert s is not None
        return s.quality, s.reason, s.value

    q, reason, value = last("COD.cdab_as_abcd")
    assert 0 < abs(value) < 1e-30 and q is Quality.UNCERTAIN and "check byte/word order or data type" in reason
    q, reason, value = last("COD.abcd_as_cdab")
    assert value > 1e9 and q.is_bad and "check byte/word order or data type" in reason
    q, reason, value = last("T.int_as_uint")
    assert value == 65494 and q.is_bad and "check byte/word order or data type" in reason
    q, reason, value = last("FT.over")
    assert value == 130.0 and q is Quality.UNCERTAIN_EU_EXCEEDED and "outside FT.over's range" in reason
    assert last("FT.margin")[0] is Quality.GOOD
    q, reason, _ = last("FT.hard")
    assert q.is_bad and "hard limit" in reason
    assert last("FT.fine")[:2] == (Quality.GOOD, "")
