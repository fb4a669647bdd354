"""Block decoding gives exactly what the per-value codec gives, for every type, byte order and scaling."""

from __future__ import annotations

import math
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.modbus.block import BlockDecoder
from connectors.modbus.codec import decode, to_engineering
from connectors.modbus.config import ByteOrder, ModbusSourceConfig, ModbusType, modbus_address
from connectors.modbus.planner import PlannedTag, ReadRequest
from plantctl.plantfile import tag_config

REGISTER_TYPES = [t for t in ModbusType if t is not ModbusType.BOOL]
CFG = ModbusSourceConfig.model_validate({"kind": "modbus", "name": "PLC", "host": "127.0.0.1", "port": 502})


def _tag(i: int, address: int, kind: ModbusType, order: ByteOrder, scaled: bool, bit: int) -> dict[str, object]:
    modbus: dict[str, object] = {"table": "holding_register", "address": address, "type": kind.value}
    modbus["byte_order"] = order.value
    if kind is ModbusType.BIT:
        modbus["bit"] = bit
    tag: dict[str, object] = {
        "name": f"T-{i}",
        "unit": "bar",
        "range": {"low": -5.0, "high": 20.0},
        "source": "PLC",
        "modbus": modbus,
    }
    if scaled and kind is not ModbusType.BIT:
        tag["scaling"] = {"raw_low": 4000, "raw_high": 20000}
    return tag


layouts = st.lists(
    st.tuples(st.sampled_from(REGISTER_TYPES), st.sampled_from(list(ByteOrder)), st.booleans(), st.integers(0, 15)),
    min_size=1,
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(layouts, st.data())
def test_a_block_decodes_as_each_value_alone(
    layout: list[tuple[ModbusType, ByteOrder, bool, int]], data: st.DataObject
) -> None:
    specs, address = [], 0
    for i, (kind, order, scaled, bit) in enumerate(layout):
        specs.append(_tag(i, address, kind, order, scaled, bit))
        address += kind.registers
    tags = {str(s["name"]): tag_config(s) for s in specs}
    planned = tuple(
        PlannedTag(t.name, 1, modbus_address(t).table, modbus_address(t).address, modbus_address(t).type.registers, 1.0)
        for t in tags.values()
    )
    registers = data.draw(st.lists(st.integers(0, 0xFFFF), min_size=address, max_size=address))
    req = ReadRequest(1, planned[0].table, 0, address, planned)

    got = BlockDecoder(req, tags, CFG).values(SimpleNamespace(registers=registers)).tolist()

    expected = []
    for pt in planned:
        tag = tags[pt.name]
        addr = modbus_address(tag)
        raw = decode(addr.type, registers[pt.address : pt.end], addr.byte_order or CFG.byte_order, addr.bit)
        expected.append(
            raw if addr.type is ModbusType.BIT else to_engineering(raw, tag.scaling, tag.range.low, tag.range.high)
        )
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert (math.isnan(g) and math.isnan(e)) or g == e, (g, e)
