"""The point table agrees with the example plant file and the integrator's document, so none can drift."""

from __future__ import annotations

from pathlib import Path

from connectors.modbus.config import ModbusAddress, ModbusSourceConfig
from connectors.opcua.config import OpcUaAddress, OpcUaSourceConfig
from plantctl.plantfile import load_plant
from sim.facade.points import BY_NAME, BY_NODE_ID, HEARTBEAT, POINTS, markdown_tables
from sim.facade.runner import SimulatedPlc

DOC = Path(__file__).resolve().parents[2] / "docs" / "sim-register-map.md"
PLANT_FILE = Path(__file__).resolve().parents[2] / "examples" / "plant.yaml"
HEARTBEAT_TAGS = {"PLC-1.WATCHDOG", "PLC-1.WATCHDOG.OPCUA"}


def test_register_map_document_embeds_the_point_table_verbatim() -> None:
    assert markdown_tables() in DOC.read_text(encoding="utf-8"), (
        "docs/sim-register-map.md is out of date: paste sim.facade.points.markdown_tables() into it")


def test_every_plant_file_address_is_served_with_its_unit_and_range() -> None:
    plant = load_plant(PLANT_FILE)
    checked = 0
    for tag in plant.tags:
        point = BY_NAME[HEARTBEAT] if tag.name in HEARTBEAT_TAGS else BY_NAME[tag.name]
        if isinstance(tag.address, ModbusAddress):
            assert (tag.address.table, tag.address.address, tag.address.type) == (
                point.table, point.address, point.type), tag.name
        if isinstance(tag.address, OpcUaAddress):
            assert BY_NODE_ID[tag.address.node_id] is point, tag.name
        assert (tag.range.low, tag.range.high) == (point.low, point.high), tag.name
        assert tag.unit == point.unit, tag.name
        assert tag.writable == point.writable, tag.name
        checked += 1
    assert checked == len(plant.tags) >= 19


def test_every_point_has_a_distinct_node_id_under_namespace_2() -> None:
    ids = [p.node_id for p in POINTS]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("ns=2;s=Plant.") for i in ids)


def test_simulator_listens_where_the_plant_file_says() -> None:
    plant = load_plant(PLANT_FILE)
    ua_src = next(s for s in plant.sources if isinstance(s, OpcUaSourceConfig))
    mb_src = next(s for s in plant.sources if isinstance(s, ModbusSourceConfig))
    sim = SimulatedPlc(PLANT_FILE)  # not started: defaults only
    assert sim.opcua_endpoint == ua_src.endpoint
    assert (sim.modbus_host, sim.modbus_port, sim.modbus_unit_id) == (mb_src.host, mb_src.port, mb_src.unit_id)
    assert sim.modbus.word_order.value == mb_src.byte_order.value
