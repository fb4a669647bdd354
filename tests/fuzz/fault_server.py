"""A Modbus TCP server of our own that answers with the faults a broken PLC or gateway sends.

Modbus Messaging on TCP/IP Implementation Guide V1.0b §3.1.3: an ADU is the 7-byte MBAP header
(transaction id, protocol id 0, length = bytes that follow incl. the unit id, unit id) and the PDU.
The healthy answer to function 3 (read holding registers) is fc, byte count, registers
(Application Protocol V1.1b3 §6.3). Every fault below breaks exactly one of these rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

# The registers the healthy device holds (float32 42.5 ABCD at 0–1, uint16 1234 at 2) and what a
# faulty frame carries instead, so that a frame wrongly accepted shows up as a wrong value.
GOOD_REGISTERS = [*struct.unpack(">HH", struct.pack(">f", 42.5)), 1234]
WRONG_REGISTERS = [*struct.unpack(">HH", struct.pack(">f", -7.0)), 4321]

KINDS = (
    "stall",            # never answers
    "close",            # closes the connection on the request
    "truncated",        # sends the first `param` bytes of the answer, then stalls
    "close_mid_frame",  # sends the first `param` bytes of the answer, then closes
    "wrong_function",   # answers with another function code
    "wrong_transaction",  # answers with another transaction id
    "wrong_protocol",   # protocol id other than 0
    "wrong_unit",       # answers as another unit id
    "wrong_mbap_length",  # MBAP length field does not match the bytes sent
    "wrong_byte_count",  # PDU byte count does not match the registers sent
    "fewer_registers",  # a consistent frame with fewer registers than asked
    "more_registers",   # a consistent frame with more registers than asked
    "oversized",        # MBAP length 0xFFFF and hundreds of bytes
    "garbage",          # random bytes instead of an answer
    "exception",        # a Modbus exception response with code `param`
)


@dataclass(frozen=True)
class Fault:
    """One way of answering wrongly; `param` and `noise` are drawn by hypothesis."""

    kind: str
    param: int = 1
    noise: bytes = b"\x00"


def adu(tid: int, unit: int, pdu: bytes, *, protocol: int = 0, length: int | None = None) -> bytes:
    return struct.pack(">HHHB", tid, protocol, len(pdu) + 1 if length is None else length, unit) + pdu


def registers_pdu(fc: int, regs: list[int], byte_count: int | None = None) -> bytes:
    body = b"".join(struct.pack(">H", r & 0xFFFF) for r in regs)
    return bytes([fc, len(body) if byte_count is None else byte_count & 0xFF]) + body


@dataclass
class FaultServer:
    """Healthy until `fault` is set; `requests` counts what arrived (for the tests' bookkeeping)."""

    fault: Fault | None = None
    port: int = 0
    requests: int = 0
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for w in list(self._writers):
                w.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readexactly(7)
                tid, _protocol, length, unit = struct.unpack(">HHHB", head)
                pdu = await reader.readexactly(max(length - 1, 0))
                self.requests += 1
                if not await self._answer(writer, tid, unit, pdu):
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        except asyncio.CancelledError:  # the test's loop is ending: the connection goes with it
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _answer(self, writer: asyncio.StreamWriter, tid: int, unit: int, pdu: bytes) -> bool:
        """Write the (possibly faulty) answer; False closes the connection."""
        fc = pdu[0]
        address, count = struct.unpack(">HH", pdu[1:5])
        wanted = (GOOD_REGISTERS + [0] * 125)[address : address + count]
        wrong = (WRONG_REGISTERS + [0] * 125)[address : address + count]
        fault = self.fault
        if fault is None:
            writer.write(adu(tid, unit, registers_pdu(fc, wanted)))
        else:
            kind, p = fault.kind, fault.param
            healthy_looking = adu(tid, unit, registers_pdu(fc, wrong))
            if kind == "stall":
                pass
            elif kind == "close":
                return False
            elif kind in ("truncated", "close_mid_frame"):
                writer.write(healthy_looking[: 1 + p % (len(healthy_looking) - 1)])
                if kind == "close_mid_frame":
                    await writer.drain()
                    return False
            elif kind == "wrong_function":
                other = p % 256 if p % 256 not in (fc, fc | 0x80) else (fc + 1) % 256
                writer.write(adu(tid, unit, registers_pdu(other, wrong)))
            elif kind == "wrong_transaction":
                writer.write(adu((tid + 1 + p) % 65536 if (tid + 1 + p) % 65536 != tid else tid ^ 1, unit,
                                 registers_pdu(fc, wrong)))
            elif kind == "wrong_protocol":
                writer.write(adu(tid, unit, registers_pdu(fc, wrong), protocol=1 + p % 65535))
            elif kind == "wrong_unit":
                writer.write(adu(tid, (unit + 1 + p % 254) % 256 or 2, registers_pdu(fc, wrong)))
            elif kind == "wrong_mbap_length":
                body = registers_pdu(fc, wrong)
                bad = p % 65536
                writer.write(adu(tid, unit, body, length=bad if bad != len(body) + 1 else 0))
            elif kind == "wrong_byte_count":
                bad = p % 256
                writer.write(adu(tid, unit, registers_pdu(fc, wrong, bad if bad != 2 * count else bad + 1)))
            elif kind == "fewer_registers":
                writer.write(adu(tid, unit, registers_pdu(fc, wrong[: max(count - 1 - p % count, 0)])))
            elif kind == "more_registers":
                writer.write(adu(tid, unit, registers_pdu(fc, wrong + [0xDEAD] * (1 + p % 124))))
            elif kind == "oversized":
                writer.write(adu(tid, unit, fault.noise * (300 // max(len(fault.noise), 1) + 1), length=0xFFFF))
            elif kind == "garbage":
                writer.write(fault.noise)
            elif kind == "exception":
                writer.write(adu(tid, unit, bytes([fc | 0x80, p % 256])))
            else:
                raise AssertionError(f"unknown fault {kind}")
        await writer.drain()
        return True


@contextlib.asynccontextmanager
async def fault_server() -> AsyncIterator[FaultServer]:
    server = FaultServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
