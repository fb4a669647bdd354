"""The simulated PLC's Modbus TCP server: the documented register map over pymodbus 3.16's SimDevice.

Reads are served from the PLC snapshot at request time (the SimDevice `action` callback fills the
registers); writes go through PlcCore.command and are refused as a PLC would: exception 3 ILLEGAL
DATA VALUE for a value out of range, exception 2 ILLEGAL DATA ADDRESS for an address not in the map
(Modbus Application Protocol V1.1b3 §7).
"""

from __future__ import annotations

import asyncio
import logging
import math
import struct
from enum import StrEnum
from typing import cast

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
from pymodbus.simulator.simutils import SimUtils

from connectors.modbus.config import ModbusTable
from sim.facade.core import CommandOutcome, PlcCore
from sim.facade.points import MEASURED, Point, PointKind, StatusBit, in_table, status_word_address

log = logging.getLogger(__name__)

# Function codes by table (Modbus Application Protocol §6): reads and writes of each table.
_FC_TABLE: dict[int, ModbusTable] = {
    1: ModbusTable.COIL, 5: ModbusTable.COIL, 15: ModbusTable.COIL,
    2: ModbusTable.DISCRETE_INPUT,
    3: ModbusTable.HOLDING_REGISTER, 6: ModbusTable.HOLDING_REGISTER, 16: ModbusTable.HOLDING_REGISTER,
    22: ModbusTable.HOLDING_REGISTER, 23: ModbusTable.HOLDING_REGISTER,
    4: ModbusTable.INPUT_REGISTER,
}
_NAN_REGS = 0x7FC0, 0x0000  # quiet NaN, served for a failed sensor


class WordOrder(StrEnum):
    """Order of the two 16-bit words of a float32 (bytes within a word are always big-endian)."""

    ABCD = "ABCD"  # high word first (Modbus big-endian)
    CDAB = "CDAB"  # low word first (word-swapped, common on PLCs)


def float_to_words(value: float, order: WordOrder) -> tuple[int, int]:
    if math.isnan(value):
        hi, lo = _NAN_REGS
    else:
        hi, lo = struct.unpack(">HH", struct.pack(">f", value))
    return (hi, lo) if order is WordOrder.ABCD else (lo, hi)


def words_to_float(words: list[int], order: WordOrder) -> float:
    hi, lo = (words[0], words[1]) if order is WordOrder.ABCD else (words[1], words[0])
    value: float = struct.unpack(">f", struct.pack(">HH", hi, lo))[0]
    return value


def _outcome_code(outcome: CommandOutcome) -> ExcCodes | None:
    if outcome is CommandOutcome.ACCEPTED:
        return None
    if outcome is CommandOutcome.NOT_WRITABLE:
        return ExcCodes.ILLEGAL_ADDRESS
    return ExcCodes.ILLEGAL_VALUE  # out of range, or a run refused while the watchdog is tripped


async def _no_such_unit(fc: int, start: int, address: int, count: int, registers: list[int],
                        set_values: list[int] | list[bool] | None) -> ExcCodes:
    """Another unit id behind this address: answered as a gateway whose target does not respond (0x0B)."""
    return ExcCodes.GATEWAY_NO_RESPONSE


class ModbusPlc:
    """One Modbus TCP device (unit id from the plant file) whose memory is the PLC snapshot."""

    def __init__(self, core: PlcCore, *, host: str, port: int, unit_id: int, word_order: WordOrder) -> None:
        self.core = core
        self.host = host
        self.port = port
        self.unit_id = unit_id
        self.word_order = word_order
        self.requests = 0
        self._server: ModbusTcpServer | None = None
        self._coils = in_table(ModbusTable.COIL)
        self._inputs = in_table(ModbusTable.DISCRETE_INPUT)
        self._holding = in_table(ModbusTable.HOLDING_REGISTER)
        self._input_regs = in_table(ModbusTable.INPUT_REGISTER)

    @property
    def listening(self) -> bool:
        return self._server is not None

    def _device(self) -> list[SimDevice]:
        """Four separate tables; addresses outside the map are INVALID, so pymodbus answers exception 2.

        SimDevice id 0 catches every other unit id (pymodbus would otherwise fail with a traceback).
        """
        def regs(points: tuple[Point, ...]) -> list[SimData]:
            return [SimData(p.address, count=p.type.registers, values=0, datatype=DataType.REGISTERS)
                    for p in points]

        status = SimData(status_word_address(MEASURED[0].name), count=len(MEASURED), values=0,
                         datatype=DataType.REGISTERS)
        def tables() -> tuple[list[SimData], list[SimData], list[SimData], list[SimData]]:
            return ([SimData(0, values=[False] * len(self._coils), datatype=DataType.BITS)],
                    [SimData(0, values=[False] * len(self._inputs), datatype=DataType.BITS)],
                    regs(self._holding),
                    [*regs(self._input_regs), status])

        plc = SimDevice(id=self.unit_id, simdata=tables(), action=self._action)
        if self.unit_id == 0:
            return [plc]  # unit 0 answers every unit id
        return [plc, SimDevice(id=0, simdata=tables(), action=_no_such_unit)]

    async def start(self) -> None:
        """Listen (again); a port of 0 picks a free one and keeps it for later restarts."""
        if self._server is not None:
            return
        server = ModbusTcpServer(self._device(), address=(self.host, self.port))
        await server.serve_forever(background=True)
        if self.port == 0:
            listener = cast(asyncio.Server, server.transport)
            self.port = int(listener.sockets[0].getsockname()[1])
        self._server = server
        log.info("Modbus TCP listening on %s:%d unit %d (%s)", self.host, self.port, self.unit_id,
                 self.word_order.value)

    async def stop(self) -> None:
        """Close the listener and every client connection (a real outage, not a pause)."""
        server, self._server = self._server, None
        if server is not None:
            await server.shutdown()  # type: ignore[no-untyped-call]
            log.info("Modbus TCP on %s:%d stopped", self.host, self.port)

    # --- the register image ----------------------------------------------------------------

    def _register_image(self, table: ModbusTable) -> dict[int, int]:
        core = self.core
        image: dict[int, int] = {}
        points = self._holding if table is ModbusTable.HOLDING_REGISTER else self._input_regs
        for p in points:
            if p.kind is PointKind.HEARTBEAT:
                image[p.address] = int(core.value_of(p)) & 0xFFFF
                continue
            failed = p.kind is PointKind.MEASUREMENT and bool(core.status_bits(p) & StatusBit.SENSOR_FAILED)
            value = math.nan if failed else core.value_of(p)  # a failed sensor has no value: NaN
            image[p.address], image[p.address + 1] = float_to_words(value, self.word_order)
        if table is ModbusTable.INPUT_REGISTER:
            for p in MEASURED:
                image[status_word_address(p.name)] = int(core.status_bits(p))
        return image

    def _bit_image(self, table: ModbusTable) -> list[bool]:
        points = self._coils if table is ModbusTable.COIL else self._inputs
        return [self.core.value_of(p) >= 0.5 for p in points]

    async def _action(self, fc: int, start: int, address: int, count: int, registers: list[int],
                      set_values: list[int] | list[bool] | None) -> ExcCodes | None:
        """SimDevice hook: refresh the block before a read, or turn a write into PLC commands."""
        self.requests += 1
        table = _FC_TABLE.get(fc)
        if table is None:
            return ExcCodes.ILLEGAL_FUNCTION
        if table in (ModbusTable.COIL, ModbusTable.DISCRETE_INPUT):
            return self._bits(table, registers, address, set_values)
        if set_values is None:
            for addr, word in self._register_image(table).items():
                registers[addr - start] = word
            return None
        return self._write_registers(address, [int(v) for v in set_values])

    def _bits(self, table: ModbusTable, registers: list[int], address: int,
              set_values: list[int] | list[bool] | None) -> ExcCodes | None:
        """Coils and discrete inputs; pymodbus packs 16 bits a register and pads the table to 16."""
        bits = self._bit_image(table)
        last = address + (len(set_values) if set_values is not None else 1)
        if last > len(bits):
            return ExcCodes.ILLEGAL_ADDRESS  # starts (or, for a write, runs) past the last mapped bit
        if set_values is None:
            padded = bits + [False] * (16 * (len(registers) - 1) - len(bits))
            registers[: len(registers) - 1] = SimUtils.bitsToRegisters(padded)
            return None
        outcomes = [self.core.command(self._coils[address + i].name, 1.0 if v else 0.0)
                    for i, v in enumerate(set_values)]
        for outcome in outcomes:
            if (code := _outcome_code(outcome)) is not None:
                return code
        return None

    def _write_registers(self, address: int, words: list[int]) -> ExcCodes | None:
        """Decode whole points from a holding-register write; validate all before applying any."""
        span = range(address, address + len(words))
        writes: list[tuple[Point, float]] = []
        for p in self._holding:
            covered = [r in span for r in p.registers]
            if not any(covered):
                continue
            if not all(covered):
                return ExcCodes.ILLEGAL_ADDRESS  # half a float32: the map is written in whole values
            regs = words[p.address - address: p.address - address + p.type.registers]
            value = float(regs[0]) if p.kind is PointKind.HEARTBEAT else words_to_float(regs, self.word_order)
            if not math.isfinite(value) or not p.in_range(value):
                return ExcCodes.ILLEGAL_VALUE
            writes.append((p, value))
        for p, value in writes:
            if (code := _outcome_code(self.core.command(p.name, value))) is not None:
                return code
        return None
