"""The PLC heartbeat watchdog over the wire: a stalled supervisor drops the pumps to their safe state."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from asyncua import Client, ua
from pymodbus.client import AsyncModbusTcpClient

from sim.facade import SimulatedPlc

pytestmark = pytest.mark.anyio
UNIT = 1
TIMEOUT_S = 1.5  # wall-clock; beats come every 0.1 s, so a loaded host has ample slack
RUN_201, RESET_201 = 0, 2  # coils
RUNNING_201, TRIPPED = 0, 4  # discrete inputs
SP_201, HEARTBEAT = 0, 10  # holding registers
SPEED_201 = 14  # input register


def abcd(value: float) -> list[int]:
    return list(struct.unpack(">HH", struct.pack(">f", value)))


def from_abcd(regs: list[int]) -> float:
    value: float = struct.unpack(">f", struct.pack(">HH", regs[0], regs[1]))[0]
    return value


@pytest.fixture(scope="module")
async def wd_plc(plc_factory: Callable[..., SimulatedPlc]) -> AsyncIterator[SimulatedPlc]:
    async with plc_factory(watchdog_timeout_s=TIMEOUT_S) as sim:
        await sim.pause()  # the watchdog keeps running on wall-clock time while the process is frozen
        yield sim


@pytest.fixture
async def mb(wd_plc: SimulatedPlc) -> AsyncIterator[AsyncModbusTcpClient]:
    client = AsyncModbusTcpClient(wd_plc.modbus_host, port=wd_plc.modbus_port, timeout=2, retries=0)
    assert await client.connect()
    yield client
    client.close()


@contextlib.asynccontextmanager
async def beating(write: Callable[[int], Awaitable[object]], start: int) -> AsyncIterator[None]:
    """A supervisor that increments the heartbeat every 0.1 s while the block runs."""
    async def beat() -> None:
        n = start
        while True:
            n = (n + 1) % 65536
            await write(n)
            await asyncio.sleep(0.1)

    task = asyncio.create_task(beat())
    try:
        await asyncio.sleep(0.15)
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_until(cond: Callable[[], Awaitable[bool]], within_s: float) -> bool:
    deadline = asyncio.get_running_loop().time() + within_s
    while asyncio.get_running_loop().time() < deadline:
        if await cond():
            return True
        await asyncio.sleep(0.05)
    return await cond()


async def test_modbus_heartbeat_stall_drops_pumps_to_safe_state_and_needs_reset_and_run(
        wd_plc: SimulatedPlc, mb: AsyncModbusTcpClient, plc_factory: object) -> None:
    async def write_hb(n: int) -> object:
        return await mb.write_register(HEARTBEAT, n, device_id=UNIT)

    async def tripped() -> bool:
        return bool((await mb.read_discrete_inputs(0, count=5, device_id=UNIT)).bits[TRIPPED])

    async with beating(write_hb, 100):
        assert not (await mb.write_registers(SP_201, abcd(30.0), device_id=UNIT)).isError()
        assert not (await mb.write_coil(RUN_201, True, device_id=UNIT)).isError()
        await wd_plc.advance(2.0)
        await asyncio.sleep(2 * TIMEOUT_S)  # beating for longer than the timeout: no trip
        assert not await tripped()
        ir = await mb.read_input_registers(SPEED_201, count=2, device_id=UNIT)
        assert from_abcd(ir.registers) == pytest.approx(30.0)

    # the supervisor goes quiet
    assert await wait_until(tripped, within_s=TIMEOUT_S + 2.0), "watchdog did not trip"
    assert wd_plc.model.commanded()["P-201.RUN"] == 0.0
    assert (await mb.read_coils(0, count=4, device_id=UNIT)).bits[RUN_201] is False
    assert from_abcd((await mb.read_holding_registers(SP_201, count=2, device_id=UNIT)).registers) == 0.0
    await wd_plc.advance(2.0)
    assert (await mb.read_discrete_inputs(0, count=5, device_id=UNIT)).bits[RUNNING_201] is False
    assert from_abcd((await mb.read_input_registers(SPEED_201, count=2, device_id=UNIT)).registers) == 0.0
    refused = await mb.write_coil(RUN_201, True, device_id=UNIT)  # no run while the supervisor is silent
    assert refused.isError() and refused.exception_code == 3

    async with beating(write_hb, 200):
        assert not wd_plc.watchdog.tripped  # the heartbeat moved: the façade's trip cleared
        await wd_plc.advance(2.0)
        assert wd_plc.model.commanded()["P-201.RUN"] == 0.0  # pumps stay stopped until commanded
        # PlantModel latches its interlock until a RESET (docs/sim-register-map.md §Watchdog)
        assert not (await mb.write_coil(RESET_201, True, device_id=UNIT)).isError()
        assert not (await mb.write_coil(RESET_201, False, device_id=UNIT)).isError()
        assert not await tripped()
        assert not (await mb.write_registers(SP_201, abcd(25.0), device_id=UNIT)).isError()
        assert not (await mb.write_coil(RUN_201, True, device_id=UNIT)).isError()
        await wd_plc.advance(2.0)
        assert from_abcd((await mb.read_input_registers(SPEED_201, count=2, device_id=UNIT)).registers) == 25.0
        assert not (await mb.write_coil(RUN_201, False, device_id=UNIT)).isError()
    assert await wait_until(tripped, within_s=TIMEOUT_S + 2.0)  # leave it tripped: the next test resets
    assert wd_plc.watchdog.trips == 2


async def test_opcua_heartbeat_feeds_the_same_watchdog(wd_plc: SimulatedPlc, mb: AsyncModbusTcpClient) -> None:
    async with Client(wd_plc.opcua_endpoint, timeout=5) as client:
        node = client.get_node("ns=2;s=Plant.Supervisor.Heartbeat")
        tripped_node = client.get_node("ns=2;s=Plant.Supervisor.WatchdogTripped")

        async def write_hb(n: int) -> object:
            await node.write_value(ua.DataValue(ua.Variant(n, ua.VariantType.UInt16)))
            return None

        async def tripped() -> bool:
            return bool(await tripped_node.read_value())

        async with beating(write_hb, 1000):
            assert not wd_plc.watchdog.tripped
            await client.get_node("ns=2;s=Plant.P201.RESET").write_value(
                ua.DataValue(ua.Variant(True, ua.VariantType.Boolean)))
            await client.get_node("ns=2;s=Plant.P201.RESET").write_value(
                ua.DataValue(ua.Variant(False, ua.VariantType.Boolean)))
            await wd_plc.advance(0.5)
            assert not await tripped()
            await asyncio.sleep(2 * TIMEOUT_S)
            assert not await tripped()
            assert (await mb.read_holding_registers(HEARTBEAT, count=1, device_id=UNIT)).registers[0] >= 1001
        assert await wait_until(tripped, within_s=TIMEOUT_S + 2.0), "OPC UA heartbeat stall did not trip"
        assert (await mb.read_discrete_inputs(0, count=5, device_id=UNIT)).bits[TRIPPED] is True
