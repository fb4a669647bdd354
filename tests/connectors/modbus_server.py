"""A real pymodbus TCP server on a free loopback port, for the Modbus source's tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

Action = Callable[[int, int, int, int, list[int], Any], Awaitable[Any]]

FC_COILS, FC_DISCRETE, FC_HOLDING, FC_INPUT = 1, 2, 3, 4


def device(
    unit: int,
    registers: int = 200,
    bits: int = 64,
    action: Action | None = None,
    input_blocks: list[tuple[int, int]] | None = None,
) -> SimDevice:
    """Four separate tables: coils, discrete inputs, holding and input registers from address 0.

    input_blocks=[(address, count), …] defines the input registers as islands with holes between.
    """
    inputs = [SimData(a, count=c, values=0, datatype=DataType.REGISTERS) for a, c in input_blocks or []]
    return SimDevice(
        id=unit,
        simdata=(
            [SimData(0, count=bits, values=False, datatype=DataType.BITS)],
            [SimData(0, count=bits, values=False, datatype=DataType.BITS)],
            [SimData(0, count=registers, values=0, datatype=DataType.REGISTERS)],
            inputs or [SimData(0, count=registers, values=0, datatype=DataType.REGISTERS)],
        ),
        action=action,
    )


@dataclass
class RunningServer:
    devices: list[SimDevice]
    port: int = 0
    server: ModbusTcpServer | None = None
    writes: list[tuple[int, int, list[Any]]] = field(default_factory=list)

    async def start(self) -> None:
        self.server = ModbusTcpServer(self.devices, address=("127.0.0.1", self.port))
        await self.server.serve_forever(background=True)
        self.port = self.server.transport.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.shutdown()
            self.server = None

    async def set(self, unit: int, fc: int, address: int, values: list[int] | list[bool]) -> None:
        assert self.server is not None
        await self.server.async_setValues(unit, fc, address, values)

    async def get(self, unit: int, fc: int, address: int, count: int) -> list[Any]:
        assert self.server is not None
        return list(await self.server.async_getValues(unit, fc, address, count))


@contextlib.asynccontextmanager
async def modbus_server(*devices: SimDevice) -> AsyncIterator[RunningServer]:
    running = RunningServer(list(devices))
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


async def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll a condition every 20 ms; fail the test with `what` when it does not come true in time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.02)
