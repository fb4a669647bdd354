"""Issue 17 problem 6: registers numbered as a PLC manual numbers them read the right registers of a real server."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from connectors.modbus.source import ModbusSource
from plantctl.config.models import TagConfig
from plantctl.plantfile import tag_config
from plantctl.quality import Quality
from tests.connectors.modbus_server import FC_HOLDING, FC_INPUT, device, modbus_server, wait_until
from tests.connectors.test_modbus_source import Collector, source_config

pytestmark = pytest.mark.anyio


def tag(name: str, modbus: dict[str, Any]) -> TagConfig:
    return tag_config({"name": name, "unit": "m3/h", "range": {"low": 0, "high": 100}, "source": "PLC-T",
                       "modbus": {"type": "float32", **modbus}, "scan_period_s": 0.1})


def f32(value: float) -> list[int]:
    return list(struct.unpack(">HH", struct.pack(">f", value)))


async def test_one_based_numbering_and_modicon_notation_read_the_registers_the_manual_means() -> None:
    async with modbus_server(device(1)) as server:
        await server.set(1, FC_INPUT, 0, f32(11.0))  # the manual's 30001 / input register 1
        await server.set(1, FC_INPUT, 2, f32(22.0))  # the manual's 30003
        await server.set(1, FC_HOLDING, 4, f32(33.0))  # the manual's 40005
        manual = [
            tag("FIT-1", {"table": "input_register", "address": 1}),
            tag("FIT-3", {"table": "input_register", "address": 3}),
        ]
        notation = [tag("FIT-N", {"register": 40005}), tag("FIT-Z", {"table": "input_register", "address": 2})]
        got = Collector()
        one_based = ModbusSource(source_config(server.port, register_numbering="one_based"), manual, got)
        zero_based = ModbusSource(source_config(server.port), notation, got)
        await one_based.start()
        await zero_based.start()
        try:
            names = ["FIT-1", "FIT-3", "FIT-N", "FIT-Z"]
            await wait_until(lambda: all(got.has(n, Quality.GOOD) for n in names), 5, "every tag read")
        finally:
            await one_based.stop()
            await zero_based.stop()
    values = {n: got.last(n).value for n in ("FIT-1", "FIT-3", "FIT-N", "FIT-Z")}  # type: ignore[union-attr]
    assert values == {"FIT-1": 11.0, "FIT-3": 22.0, "FIT-N": 33.0, "FIT-Z": 22.0}
