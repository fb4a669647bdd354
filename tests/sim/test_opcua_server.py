"""The simulated PLC's OPC UA address space, read and written by a real asyncua client over loopback."""

from __future__ import annotations

import asyncio
import math
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from asyncua import Client, ua

from connectors.opcua.config import OpcUaAddress
from plantctl.plantfile import load_plant
from sim.facade import SimulatedPlc
from sim.interface import SensorStatus

PLANT_FILE = Path(__file__).resolve().parents[2] / "examples" / "plant.yaml"

pytestmark = pytest.mark.anyio

# The documented address space (docs/sim-register-map.md), independent of sim/facade/points.py.
ANALOG = {
    "FIT-100": ("Influent", "FIT-100"), "AIT-100": ("Influent", "AIT-100"), "AIT-101": ("T101", "AIT-101"),
    "CIT-101": ("T101", "CIT-101"), "LIT-101": ("T101", "LIT-101"), "TIT-101": ("T101", "TIT-101"),
    "AIT-301": ("C301", "AIT-301"), "P-201.SPEED": ("P201", "SPEED"), "P-202.SPEED": ("P202", "SPEED"),
    "AIT-104": ("T101", "AIT-104"), "AIT-105": ("T101", "AIT-105"), "AIT-302": ("C301", "AIT-302"),
    "FIT-201": ("P201", "FIT-201"), "FIT-202": ("P202", "FIT-202"),
    # the trim stage, the outfall and the holding tank (issue 15)
    "P-401.SPEED": ("P401", "SPEED"), "P-402.SPEED": ("P402", "SPEED"), "AIT-401": ("T401", "AIT-401"),
    "AIT-402": ("T401", "AIT-402"), "AIT-403": ("T401", "AIT-403"), "AIT-410": ("Outfall", "AIT-410"),
    "FIT-401": ("P401", "FIT-401"), "FIT-402": ("P402", "FIT-402"), "FIT-410": ("Outfall", "FIT-410"),
    "XV-410.POS": ("XV410", "POS"), "LIT-501": ("T501", "LIT-501"), "P-501.SPEED": ("P501", "SPEED"),
    "FIT-501": ("P501", "FIT-501"), "AIT-300": ("C301", "AIT-300"), "FQ-410": ("Outfall", "FQ-410"),
}
SETPOINTS = {"P-201.SP": ("P201", "SP"), "P-202.SP": ("P202", "SP"), "P-401.SP": ("P401", "SP"),
             "P-402.SP": ("P402", "SP"), "P-501.SP": ("P501", "SP")}
SWITCHES = {"P-201.RUN": ("P201", "RUN"), "P-202.RUN": ("P202", "RUN"),
            "P-201.RESET": ("P201", "RESET"), "P-202.RESET": ("P202", "RESET"),
            "P-401.RUN": ("P401", "RUN"), "P-402.RUN": ("P402", "RUN"), "P-401.RESET": ("P401", "RESET"),
            "P-402.RESET": ("P402", "RESET"), "XV-410.CMD": ("XV410", "CMD"), "P-501.RUN": ("P501", "RUN")}
FEEDBACK = {"P-201.RUNNING": ("P201", "RUNNING"), "P-201.FAULT": ("P201", "FAULT"),
            "P-202.RUNNING": ("P202", "RUNNING"), "P-202.FAULT": ("P202", "FAULT"),
            "WATCHDOG.TRIPPED": ("Supervisor", "WatchdogTripped"),
            "P-401.RUNNING": ("P401", "RUNNING"), "P-401.FAULT": ("P401", "FAULT"),
            "P-402.RUNNING": ("P402", "RUNNING"), "P-402.FAULT": ("P402", "FAULT"),
            "P-501.RUNNING": ("P501", "RUNNING")}
# UNECE Rec. 20 common codes, packed as OPC UA Part 8 §5.6.3 says; pH has none (-1).
UNIT_IDS = {"m3/h": int.from_bytes(b"MQH", "big"), "pH": -1, "mS/cm": int.from_bytes(b"H61", "big"),
            "%": int.from_bytes(b"P1", "big"), "degC": int.from_bytes(b"CEL", "big"),
            "mg/L": int.from_bytes(b"M1", "big"), "L/h": int.from_bytes(b"E32", "big"),
            "m3": int.from_bytes(b"MTQ", "big")}


def node_id(folder: str, name: str) -> str:
    return f"ns=2;s=Plant.{folder}.{name}"


def f32(value: float) -> float:
    rounded: float = struct.unpack(">f", struct.pack(">f", value))[0]
    return rounded


@pytest.fixture(scope="module")
async def client(plc: SimulatedPlc) -> AsyncIterator[Client]:
    async with Client(plc.opcua_endpoint, timeout=5) as c:
        yield c


async def test_plant_file_node_ids_exist_with_the_browse_path_a_field_engineer_expects(client: Client) -> None:
    plant = load_plant(PLANT_FILE)
    for tag in plant.tags:
        if not isinstance(tag.address, OpcUaAddress):
            continue
        node = client.get_node(tag.address.node_id)
        folder, name = tag.address.node_id.split(";s=")[1].split(".", 2)[1:]
        by_path = await client.nodes.objects.get_child(["2:Plant", f"2:{folder}", f"2:{name}"])
        assert by_path.nodeid == node.nodeid, tag.name
    every = {**ANALOG, **SETPOINTS, **SWITCHES, **FEEDBACK, "HEARTBEAT": ("Supervisor", "Heartbeat")}
    for folder, name in every.values():
        child = await client.nodes.objects.get_child(["2:Plant", f"2:{folder}", f"2:{name}"])
        assert child.nodeid.to_string() == node_id(folder, name)


async def test_every_measurement_matches_the_model_with_good_status(plc: SimulatedPlc, client: Client) -> None:
    await plc.advance(2.0)
    readings = plc.model.readings()
    for name, (folder, browse) in ANALOG.items():
        dv = await client.get_node(node_id(folder, browse)).read_data_value(raise_on_bad_status=False)
        assert readings[name].status is SensorStatus.GOOD, name
        assert dv.StatusCode.is_good(), name
        assert dv.Value.VariantType == ua.VariantType.Float
        assert dv.Value.Value == f32(readings[name].value), name
    for name, (folder, browse) in FEEDBACK.items():
        value = await client.get_node(node_id(folder, browse)).read_value()
        assert value is (readings[name].value == 1.0), name


async def test_setpoints_commands_and_heartbeat_read_back_what_the_plc_holds(plc: SimulatedPlc, client: Client) -> None:
    plc.model.command("P-201.SP", 12.25)  # as if set locally at the PLC
    await plc.advance(1.0)
    commanded = plc.model.commanded()
    for name, (folder, browse) in SETPOINTS.items():
        dv = await client.get_node(node_id(folder, browse)).read_data_value()
        assert dv.Value.VariantType == ua.VariantType.Float
        assert dv.Value.Value == f32(commanded[name]), name
    for name, (folder, browse) in SWITCHES.items():
        assert await client.get_node(node_id(folder, browse)).read_value() is (commanded[name] == 1.0), name
    heartbeat = await client.get_node(node_id("Supervisor", "Heartbeat")).read_data_value()
    assert heartbeat.Value.VariantType == ua.VariantType.UInt16
    assert heartbeat.Value.Value == plc.watchdog.value


async def test_analog_items_carry_eurange_and_engineering_units_of_the_plant_file(client: Client) -> None:
    plant = load_plant(PLANT_FILE)
    for name, (folder, browse) in {**ANALOG, **SETPOINTS}.items():
        node = client.get_node(node_id(folder, browse))
        assert (await node.read_type_definition()) == ua.NodeId(ua.ObjectIds.AnalogItemType), name
        tag = plant.tag(name)
        eu_range = await (await node.get_child("0:EURange")).read_value()
        assert (eu_range.Low, eu_range.High) == (tag.range.low, tag.range.high), name
        units = await (await node.get_child("0:EngineeringUnits")).read_value()
        assert units.UnitId == UNIT_IDS[tag.unit], name
        assert units.NamespaceUri == "http://www.opcfoundation.org/UA/units/un/cefact"


async def test_setpoint_and_run_written_over_opcua_drive_the_pump(plc: SimulatedPlc, client: Client) -> None:
    sp = client.get_node(node_id("P202", "SP"))
    await sp.write_value(ua.DataValue(ua.Variant(17.5, ua.VariantType.Float)))
    await client.get_node(node_id("P202", "RUN")).write_value(ua.DataValue(ua.Variant(True, ua.VariantType.Boolean)))
    assert plc.model.commanded()["P-202.SP"] == 17.5
    assert plc.model.commanded()["P-202.RUN"] == 1.0
    await plc.advance(2.0)
    assert await client.get_node(node_id("P202", "SPEED")).read_value() == pytest.approx(17.5)
    assert await client.get_node(node_id("P202", "RUNNING")).read_value() is True
    await client.get_node(node_id("P202", "RUN")).write_value(ua.DataValue(ua.Variant(False, ua.VariantType.Boolean)))
    await plc.advance(1.0)
    assert await client.get_node(node_id("P202", "SPEED")).read_value() == 0.0


@pytest.mark.parametrize("value", [100.01, -0.5, math.nan])
async def test_out_of_range_setpoint_is_refused_with_bad_out_of_range(
        plc: SimulatedPlc, client: Client, value: float) -> None:
    before = plc.model.commanded()["P-201.SP"]
    with pytest.raises(ua.uaerrors.BadOutOfRange):
        await client.get_node(node_id("P201", "SP")).write_value(ua.DataValue(ua.Variant(value, ua.VariantType.Float)))
    assert plc.model.commanded()["P-201.SP"] == before


async def test_write_results_are_per_node(plc: SimulatedPlc, client: Client) -> None:
    nodes = [client.get_node(node_id("P201", "SP")), client.get_node(node_id("P202", "SP"))]
    values = [ua.DataValue(ua.Variant(v, ua.VariantType.Float)) for v in (33.0, 250.0)]
    results = await client.write_values(nodes, values, raise_on_partial_error=False)
    assert results[0].is_good()
    assert results[1].value == ua.StatusCodes.BadOutOfRange
    assert plc.model.commanded()["P-201.SP"] == 33.0


async def test_wrong_type_and_read_only_writes_are_refused(client: Client) -> None:
    with pytest.raises(ua.uaerrors.BadTypeMismatch):  # a Double to a Float setpoint
        await client.get_node(node_id("P201", "SP")).write_value(ua.DataValue(ua.Variant(10.0, ua.VariantType.Double)))
    with pytest.raises(ua.uaerrors.BadNotWritable):
        await client.get_node(node_id("T101", "AIT-101")).write_value(
            ua.DataValue(ua.Variant(7.0, ua.VariantType.Float)))


async def test_failed_sensor_reads_bad_sensor_failure(plc: SimulatedPlc, client: Client) -> None:
    plc.model.sensors["LIT-101"].fail()  # type: ignore[attr-defined]
    try:
        await plc.advance(1.0)
        dv = await client.get_node(node_id("T101", "LIT-101")).read_data_value(raise_on_bad_status=False)
        assert dv.StatusCode.value == ua.StatusCodes.BadSensorFailure
        assert dv.Value is None or dv.Value.Value is None  # a Bad status carries no value (Part 4 §7.7.1)
        other = await client.get_node(node_id("T101", "TIT-101")).read_data_value(raise_on_bad_status=False)
        assert other.StatusCode.is_good()
    finally:
        plc.model.sensors["LIT-101"].recover()  # type: ignore[attr-defined]
    await plc.advance(1.0)
    dv = await client.get_node(node_id("T101", "LIT-101")).read_data_value(raise_on_bad_status=False)
    assert dv.StatusCode.is_good()


async def test_uncertain_sensor_reads_uncertain(plc: SimulatedPlc, client: Client) -> None:
    plc.model.sensors["AIT-301"].set_offset(400.0)  # type: ignore[attr-defined]  # far out of calibration
    try:
        await plc.advance(1.0)
        assert plc.model.readings()["AIT-301"].status is SensorStatus.UNCERTAIN
        dv = await client.get_node(node_id("C301", "AIT-301")).read_data_value(raise_on_bad_status=False)
        assert dv.StatusCode.is_uncertain()
        assert dv.Value.Value == f32(plc.model.readings()["AIT-301"].value)
    finally:
        plc.model.sensors["AIT-301"].recover()  # type: ignore[attr-defined]
        await plc.advance(1.0)


async def test_diversion_valve_and_return_pump_commanded_over_opcua(plc: SimulatedPlc, client: Client) -> None:
    await client.get_node("ns=2;s=Plant.XV410.CMD").write_value(ua.DataValue(ua.Variant(True, ua.VariantType.Boolean)))
    await client.get_node("ns=2;s=Plant.P501.SP").write_value(ua.DataValue(ua.Variant(40.0, ua.VariantType.Float)))
    try:
        assert plc.model.commanded()["XV-410.CMD"] == 1.0 and plc.model.commanded()["P-501.SP"] == 40.0
        await plc.advance(12.0)  # more than the 10 s stroke
        assert await client.get_node("ns=2;s=Plant.XV410.POS").read_value() == 100.0
        assert await client.get_node("ns=2;s=Plant.Outfall.FQ-410").read_value() > 0.0
        assert plc.model.true_state().valve_position == 1.0  # type: ignore[attr-defined]
    finally:
        await client.get_node("ns=2;s=Plant.XV410.CMD").write_value(
            ua.DataValue(ua.Variant(False, ua.VariantType.Boolean)))
        await client.get_node("ns=2;s=Plant.P501.SP").write_value(ua.DataValue(ua.Variant(0.0, ua.VariantType.Float)))
        await plc.advance(12.0)
    assert await client.get_node("ns=2;s=Plant.XV410.POS").read_value() == 0.0


async def test_heartbeat_written_over_opcua_is_the_modbus_heartbeat_register(plc: SimulatedPlc, client: Client) -> None:
    node = client.get_node("ns=2;s=Plant.Supervisor.Heartbeat")
    assert (await node.read_data_type_as_variant_type()) == ua.VariantType.UInt16
    await node.write_value(ua.DataValue(ua.Variant(4711, ua.VariantType.UInt16)))
    assert plc.watchdog.value == 4711 and plc.watchdog.armed
    from pymodbus.client import AsyncModbusTcpClient

    mb = AsyncModbusTcpClient(plc.modbus_host, port=plc.modbus_port, timeout=2, retries=0)
    assert await mb.connect()
    try:
        assert (await mb.read_holding_registers(10, count=1, device_id=1)).registers == [4711]
    finally:
        mb.close()


class _Changes:
    def __init__(self) -> None:
        self.values: list[ua.DataValue] = []

    def datachange_notification(self, node: object, val: object, data: ua.DataChangeNotification) -> None:
        self.values.append(data.monitored_item.Value)


async def test_subscription_sees_changes_with_simulated_source_timestamps(plc: SimulatedPlc, client: Client) -> None:
    changes = _Changes()
    sub = await client.create_subscription(50, changes)
    try:
        await sub.subscribe_data_change(client.get_node(node_id("T101", "TIT-101")), sampling_interval=0)
        for _ in range(100):
            if changes.values:
                break
            await asyncio.sleep(0.02)
        first = len(changes.values)
        assert first >= 1
        await plc.advance(30.0)
        expected = f32(plc.model.readings()["TIT-101"].value)
        for _ in range(100):
            if changes.values[-1].Value.Value == expected:
                break
            await asyncio.sleep(0.02)
        last = changes.values[-1]
        assert last.Value.Value == expected
        assert last.SourceTimestamp == plc.core.sim_time_utc()
        assert (last.SourceTimestamp - changes.values[0].SourceTimestamp).total_seconds() == pytest.approx(
            30.0, abs=0.01)
    finally:
        await sub.delete()


async def test_regression_sensor_failure_reaches_a_subscription_with_an_absolute_deadband(
        plc: SimulatedPlc, client: Client) -> None:
    """asyncua's deadband check subtracted a Bad (null) value from a float and dropped the notification."""
    changes = _Changes()
    sub = await client.create_subscription(50, changes)
    try:
        await sub.deadband_monitor(client.get_node(node_id("Influent", "AIT-100")), 0.5)
        for _ in range(100):
            if changes.values:
                break
            await asyncio.sleep(0.02)
        assert changes.values and changes.values[-1].StatusCode.is_good()
        plc.model.sensors["AIT-100"].fail()  # type: ignore[attr-defined]
        await plc.advance(1.0)
        for _ in range(100):
            if changes.values[-1].StatusCode.value == ua.StatusCodes.BadSensorFailure:
                break
            await asyncio.sleep(0.02)
        assert changes.values[-1].StatusCode.value == ua.StatusCodes.BadSensorFailure
        plc.model.sensors["AIT-100"].recover()  # type: ignore[attr-defined]
        await plc.advance(1.0)
        for _ in range(100):
            if changes.values[-1].StatusCode.is_good():
                break
            await asyncio.sleep(0.02)
        assert changes.values[-1].StatusCode.is_good()  # and back, although the value moved < 0.5
    finally:
        plc.model.sensors["AIT-100"].recover()  # type: ignore[attr-defined]
        await sub.delete()
