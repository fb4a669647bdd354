"""The simulated PLC's Modbus TCP map, read and written by a real pymodbus client over loopback."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusTcpClient

from plantctl.plantfile import load_plant
from sim.facade import SimulatedPlc
from sim.interface import SensorStatus

PLANT_FILE = Path(__file__).resolve().parents[2] / "examples" / "plant.yaml"

pytestmark = pytest.mark.anyio
UNIT = 1

# The documented map (docs/sim-register-map.md), written out here independently of sim/facade/points.py.
INPUT_FLOATS = {"FIT-100": 0, "AIT-100": 2, "AIT-101": 4, "CIT-101": 6, "LIT-101": 8, "TIT-101": 10,
                "AIT-301": 12, "P-201.SPEED": 14, "P-202.SPEED": 16,
                # appended for the richer plant (issue 14): the addresses above never move
                "AIT-104": 18, "AIT-105": 20, "AIT-302": 22, "FIT-201": 24, "FIT-202": 26,
                # appended for the trim stage, outfall and holding tank (issue 15)
                "P-401.SPEED": 28, "P-402.SPEED": 30, "AIT-401": 32, "AIT-402": 34, "AIT-403": 36, "AIT-410": 38,
                "FIT-401": 40, "FIT-402": 42, "FIT-410": 44, "XV-410.POS": 46, "LIT-501": 48, "P-501.SPEED": 50,
                "FIT-501": 52, "AIT-300": 54, "FQ-410": 56}
STATUS_WORDS = {name: 100 + i for i, name in enumerate(INPUT_FLOATS)}
DISCRETE_INPUTS = {"P-201.RUNNING": 0, "P-201.FAULT": 1, "P-202.RUNNING": 2, "P-202.FAULT": 3,
                   "WATCHDOG.TRIPPED": 4, "P-401.RUNNING": 5, "P-401.FAULT": 6, "P-402.RUNNING": 7,
                   "P-402.FAULT": 8, "P-501.RUNNING": 9}
COILS = {"P-201.RUN": 0, "P-202.RUN": 1, "P-201.RESET": 2, "P-202.RESET": 3, "P-401.RUN": 4, "P-402.RUN": 5,
         "P-401.RESET": 6, "P-402.RESET": 7, "XV-410.CMD": 8, "P-501.RUN": 9}
HOLDING_FLOATS = {"P-201.SP": 0, "P-202.SP": 2, "P-401.SP": 12, "P-402.SP": 14, "P-501.SP": 16}
HEARTBEAT_REGISTER = 10


def f32(value: float) -> float:
    """What a float32 register pair can hold of a float."""
    rounded: float = struct.unpack(">f", struct.pack(">f", value))[0]
    return rounded


def from_abcd(hi: int, lo: int) -> float:
    value: float = struct.unpack(">f", struct.pack(">HH", hi, lo))[0]
    return value


def to_abcd(value: float) -> list[int]:
    return list(struct.unpack(">HH", struct.pack(">f", value)))


def expected_status_word(name: str, value: float, status: SensorStatus) -> int:
    rng = load_plant(PLANT_FILE).tag(name).range
    if status is SensorStatus.FAILED:
        return 0x0001
    word = 0x0002 if status is SensorStatus.UNCERTAIN else 0
    if not rng.low <= value <= rng.high:
        word |= 0x0004
    return word


async def read_floats(client: AsyncModbusTcpClient) -> dict[str, float]:
    rr = await client.read_input_registers(0, count=58, device_id=UNIT)
    assert not rr.isError(), rr
    return {name: from_abcd(rr.registers[a], rr.registers[a + 1]) for name, a in INPUT_FLOATS.items()}


async def test_every_measurement_matches_the_model_at_the_same_instant(
        plc: SimulatedPlc, modbus: AsyncModbusTcpClient) -> None:
    await plc.advance(3.0)
    readings = plc.model.readings()
    values = await read_floats(modbus)
    words = await modbus.read_input_registers(100, count=len(STATUS_WORDS), device_id=UNIT)
    assert not words.isError(), words
    for name, address in STATUS_WORDS.items():
        r = readings[name]
        assert values[name] == f32(r.value), name
        assert words.registers[address - 100] == expected_status_word(name, r.value, r.status), name
    assert 0.0 < values["FIT-100"] < 15.0 and 0.0 < values["AIT-101"] < 14.0  # a live plant, not zeros


async def test_discrete_inputs_and_coils_match_the_model(plc: SimulatedPlc, modbus: AsyncModbusTcpClient) -> None:
    di = await modbus.read_discrete_inputs(0, count=10, device_id=UNIT)
    co = await modbus.read_coils(0, count=10, device_id=UNIT)
    assert not di.isError() and not co.isError()
    readings, commanded = plc.model.readings(), plc.model.commanded()
    for name, address in DISCRETE_INPUTS.items():
        assert di.bits[address] == (readings[name].value == 1.0), name
    for name, address in COILS.items():
        assert co.bits[address] == (commanded[name] == 1.0), name


async def test_holding_registers_read_back_the_setpoints_and_heartbeat(
        plc: SimulatedPlc, modbus: AsyncModbusTcpClient) -> None:
    plc.model.command("P-202.SP", 61.75)  # as if set locally at the PLC
    plc.model.command("P-402.SP", 12.25)
    plc.model.command("P-501.SP", 33.5)
    await plc.advance(1.0)
    hb = await modbus.read_holding_registers(HEARTBEAT_REGISTER, count=1, device_id=UNIT)
    assert not hb.isError()
    for name, address in HOLDING_FLOATS.items():
        hr = await modbus.read_holding_registers(address, count=2, device_id=UNIT)
        assert not hr.isError(), name
        assert from_abcd(hr.registers[0], hr.registers[1]) == f32(plc.model.commanded()[name])
    assert hb.registers == [plc.watchdog.value]


async def test_setpoint_and_run_written_over_modbus_drive_the_pump(
        plc: SimulatedPlc, modbus: AsyncModbusTcpClient) -> None:
    assert not (await modbus.write_registers(HOLDING_FLOATS["P-201.SP"], to_abcd(42.5), device_id=UNIT)).isError()
    assert not (await modbus.write_coil(COILS["P-201.RUN"], True, device_id=UNIT)).isError()
    assert plc.model.commanded()["P-201.SP"] == 42.5
    assert plc.model.commanded()["P-201.RUN"] == 1.0
    await plc.advance(2.0)
    values = await read_floats(modbus)
    assert values["P-201.SPEED"] == pytest.approx(42.5)
    di = await modbus.read_discrete_inputs(0, count=5, device_id=UNIT)
    assert di.bits[DISCRETE_INPUTS["P-201.RUNNING"]] is True
    hr = await modbus.read_holding_registers(0, count=4, device_id=UNIT)
    assert from_abcd(hr.registers[0], hr.registers[1]) == 42.5  # read-back of the setpoint
    # stop it again for the other tests of this module
    assert not (await modbus.write_coil(COILS["P-201.RUN"], False, device_id=UNIT)).isError()
    await plc.advance(1.0)
    assert (await read_floats(modbus))["P-201.SPEED"] == 0.0


@pytest.mark.parametrize("value", [100.5, -1.0, math.nan, math.inf])
async def test_out_of_range_setpoint_is_answered_with_illegal_data_value(
        plc: SimulatedPlc, modbus: AsyncModbusTcpClient, value: float) -> None:
    before = plc.model.commanded()["P-202.SP"]
    rr = await modbus.write_registers(HOLDING_FLOATS["P-202.SP"], to_abcd(value), device_id=UNIT)
    assert rr.isError() and rr.exception_code == 3
    assert plc.model.commanded()["P-202.SP"] == before


@pytest.mark.parametrize(("what", "call"), [
    ("input register after the floats", lambda c: c.read_input_registers(58, count=1, device_id=UNIT)),
    ("read across the gap to the status words", lambda c: c.read_input_registers(26, count=80, device_id=UNIT)),
    ("holding register between setpoints and heartbeat", lambda c: c.read_holding_registers(4, count=1,
                                                                                             device_id=UNIT)),
    ("coil after the last command", lambda c: c.read_coils(10, count=1, device_id=UNIT)),
    ("discrete input after the last feedback", lambda c: c.read_discrete_inputs(10, count=1, device_id=UNIT)),
    ("half of a float32 setpoint", lambda c: c.write_register(1, 0, device_id=UNIT)),
    ("status words are input registers", lambda c: c.write_register(100, 0, device_id=UNIT)),
])
async def test_unmapped_addresses_are_answered_with_illegal_data_address(
        modbus: AsyncModbusTcpClient, what: str, call: object) -> None:
    rr = await call(modbus)  # type: ignore[operator]
    assert rr.isError() and rr.exception_code == 2, what


@pytest.mark.parametrize("unit", [0, 2, 247])
async def test_other_unit_ids_are_answered_gateway_target_failed(modbus: AsyncModbusTcpClient, unit: int) -> None:
    rr = await modbus.read_input_registers(0, count=2, device_id=unit)
    assert rr.isError() and rr.exception_code == 0x0B


async def test_a_coil_write_running_past_the_map_changes_nothing(
        plc: SimulatedPlc, modbus: AsyncModbusTcpClient) -> None:
    before = plc.model.commanded()
    rr = await modbus.write_coils(COILS["P-501.RUN"], [True, True], device_id=UNIT)
    assert rr.isError() and rr.exception_code == 2
    assert plc.model.commanded() == before


async def test_trim_pump_and_diversion_valve_written_over_modbus(
        plc: SimulatedPlc, modbus: AsyncModbusTcpClient) -> None:
    assert not (await modbus.write_registers(HOLDING_FLOATS["P-401.SP"], to_abcd(20.0), device_id=UNIT)).isError()
    assert not (await modbus.write_coil(COILS["P-401.RUN"], True, device_id=UNIT)).isError()
    assert not (await modbus.write_coil(COILS["XV-410.CMD"], True, device_id=UNIT)).isError()
    try:
        await plc.advance(12.0)
        values = await read_floats(modbus)
        assert values["P-401.SPEED"] == 20.0 and values["XV-410.POS"] == 100.0
        assert values["FIT-401"] == pytest.approx(120.0, abs=6.0)  # 20 % of 600 L/h (soda ash) on the flowmeter
        di = await modbus.read_discrete_inputs(0, count=10, device_id=UNIT)
        assert di.bits[DISCRETE_INPUTS["P-401.RUNNING"]] is True
    finally:
        assert not (await modbus.write_coil(COILS["P-401.RUN"], False, device_id=UNIT)).isError()
        assert not (await modbus.write_coil(COILS["XV-410.CMD"], False, device_id=UNIT)).isError()
        await plc.advance(12.0)
    assert (await read_floats(modbus))["XV-410.POS"] == 0.0


async def test_failed_sensor_reads_nan_with_failed_bit_and_recovers(
        plc: SimulatedPlc, modbus: AsyncModbusTcpClient) -> None:
    plc.model.sensors["AIT-101"].fail()  # type: ignore[attr-defined]
    try:
        await plc.advance(1.0)
        assert plc.model.readings()["AIT-101"].status is SensorStatus.FAILED
        values = await read_floats(modbus)
        words = (await modbus.read_input_registers(100, count=len(STATUS_WORDS), device_id=UNIT)).registers
        assert math.isnan(values["AIT-101"])
        assert words[STATUS_WORDS["AIT-101"] - 100] & 0x0001
        assert words[STATUS_WORDS["CIT-101"] - 100] & 0x0001 == 0  # only the failed instrument
    finally:
        plc.model.sensors["AIT-101"].recover()  # type: ignore[attr-defined]
    await plc.advance(1.0)
    assert not math.isnan((await read_floats(modbus))["AIT-101"])


async def test_uncertain_sensor_sets_the_uncertain_bit(plc: SimulatedPlc, modbus: AsyncModbusTcpClient) -> None:
    plc.model.sensors["CIT-101"].set_offset(50.0)  # type: ignore[attr-defined]  # far beyond calibration
    try:
        await plc.advance(1.0)
        assert plc.model.readings()["CIT-101"].status is SensorStatus.UNCERTAIN
        words = (await modbus.read_input_registers(100, count=len(STATUS_WORDS), device_id=UNIT)).registers
        assert words[STATUS_WORDS["CIT-101"] - 100] & 0x0002
    finally:
        plc.model.sensors["CIT-101"].recover()  # type: ignore[attr-defined]
        await plc.advance(1.0)


async def test_cdab_word_order_swaps_the_words(plc_factory: object) -> None:
    async with plc_factory(word_order="CDAB") as sim:  # type: ignore[operator]
        await sim.pause()
        client = AsyncModbusTcpClient(sim.modbus_host, port=sim.modbus_port, timeout=2, retries=0)
        assert await client.connect()
        try:
            rr = await client.read_input_registers(0, count=28, device_id=UNIT)
            flow = sim.model.readings()["FIT-100"].value
            assert from_abcd(rr.registers[1], rr.registers[0]) == f32(flow)
            assert not (await client.write_registers(0, to_abcd(12.0)[::-1], device_id=UNIT)).isError()
            assert sim.model.commanded()["P-201.SP"] == 12.0
        finally:
            client.close()
