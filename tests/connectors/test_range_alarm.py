"""Issue 17 problem 1, the operator's side: a value read outside its tag's range raises a diagnostic alarm that
names the tag, the value, the range and the likely cause (real Modbus server → source → alarm engine)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from connectors.modbus.source import ModbusSource
from plantctl.alarms.engine import AlarmEngine
from plantctl.alarms.states import AlarmState
from plantctl.config.models import AlarmType, PlantConfig
from plantctl.plantfile import load_plant
from plantctl.runtime.assemble import service_plant
from plantctl.samples import utcnow
from tests.connectors.modbus_server import FC_INPUT, device, modbus_server, wait_until
from tests.connectors.test_modbus_source import Collector, source_config

pytestmark = pytest.mark.anyio

PLANT = """\
plant: {name: commissioning}
sources:
  - {kind: modbus, name: PLC-T, host: 127.0.0.1, port: 502}
tags:
  - {name: COD-101, unit: mg/L, range: {low: 0, high: 1500}, source: PLC-T, scan_period_s: 0.1,
     modbus: {table: input_register, address: 0, type: float32}}
  - {name: FIT-101, unit: m3/h, range: {low: 0, high: 100}, source: PLC-T, scan_period_s: 0.1,
     modbus: {table: input_register, address: 2, type: float32}}
"""


def f32(value: float, order: str) -> list[int]:
    """Registers of a float32 laid out in `order`, computed with struct (independent of the codec)."""
    hi, lo = struct.unpack(">HH", struct.pack(">f", value))
    return [hi, lo] if order == "ABCD" else [lo, hi]


def plant(tmp_path: Path, extra: str = "") -> PlantConfig:
    path = tmp_path / "plant.yaml"
    path.write_text(PLANT + extra)
    return load_plant(path)


async def test_a_wrong_word_order_raises_the_range_alarm_naming_tag_value_range_and_cause(tmp_path: Path) -> None:
    config = plant(tmp_path)
    engine = AlarmEngine.for_plant(service_plant(config))
    async with modbus_server(device(1)) as server:
        await server.set(1, FC_INPUT, 0, f32(1234.5, "CDAB"))  # the PLC is word-swapped; the tag says ABCD
        await server.set(1, FC_INPUT, 2, f32(42.0, "ABCD"))
        got = Collector()
        source = ModbusSource(source_config(server.port), config.tags, got)
        await source.start()
        try:
            await wait_until(lambda: got.last("COD-101") is not None and got.last("FIT-101") is not None, 5, "reads")
            engine.process(list(got.samples), utcnow())
            wrong = engine.status("SYS.RANGE.COD-101")
            assert wrong.state is AlarmState.UNACK and wrong.active, wrong
            assert wrong.tag == "COD-101" and wrong.type is AlarmType.RANGE
            assert wrong.value is not None and not 0 <= wrong.value <= 1500, wrong.value
            assert "[0, 1500] mg/L" in wrong.message and "byte/word order" in wrong.message, wrong.message
            assert "register numbering" in wrong.message and "scaling" in wrong.message
            fine = engine.status("SYS.RANGE.FIT-101")
            assert not fine.active and fine.state is AlarmState.NORM

            await server.set(1, FC_INPUT, 0, f32(1234.5, "ABCD"))  # the engineer fixed the decoding
            seen = len(got.samples)
            await wait_until(lambda: len(got.samples) > seen + 2, 5, "new reads")
            engine.process(got.samples[seen:], utcnow())
            assert not engine.status("SYS.RANGE.COD-101").active
            assert engine.status("SYS.RANGE.COD-101").state is AlarmState.RTNUN, "it returns to normal, unacknowledged"
        finally:
            await source.stop()


async def test_a_declared_range_alarm_replaces_the_default_one(tmp_path: Path) -> None:
    config = plant(tmp_path, """\
alarms:
  - {name: COD-101.DECODE, tag: COD-101, type: range, priority: 2, on_delay_s: 0}
""")
    engine = AlarmEngine.for_plant(service_plant(config))
    assert "COD-101.DECODE" in engine.names() and "SYS.RANGE.COD-101" not in engine.names()
    assert "SYS.RANGE.FIT-101" in engine.names()
    assert engine.status("COD-101.DECODE").priority == 2
    assert "byte/word order" in engine.status("COD-101.DECODE").message, "without a message it gets the cause"


def test_the_service_plant_gives_plant_tags_a_range_alarm_and_system_points_none() -> None:
    plant = service_plant(load_plant(Path(__file__).resolve().parents[2] / "examples" / "plant-notifications.yaml"))
    names = set(AlarmEngine.for_plant(plant).names())
    system = [t.name for t in plant.tags if t.name.startswith("SYS.")]
    assert system, "the plant has system points (its notifier's)"
    assert not any(f"SYS.RANGE.{t}" in names for t in system)
    assert {f"SYS.RANGE.{t.name}" for t in plant.tags if not t.name.startswith("SYS.")} <= names
