"""Modbus source against a real pymodbus server over loopback."""

from __future__ import annotations

import asyncio
import logging
import math
import struct
from typing import Any

import pytest
from pymodbus.constants import ExcCodes

from connectors.modbus.config import ByteOrder, ModbusSourceConfig, ModbusType
from connectors.modbus.source import ModbusSource
from plantctl.config.models import TagConfig
from plantctl.plantfile import tag_config
from plantctl.quality import Quality
from plantctl.samples import Sample
from tests.connectors.modbus_server import (
    FC_COILS,
    FC_HOLDING,
    FC_INPUT,
    device,
    modbus_server,
    wait_until,
)

pytestmark = pytest.mark.anyio


def source_config(port: int, **kw: Any) -> ModbusSourceConfig:
    return ModbusSourceConfig.model_validate(
        {
            "kind": "modbus",
            "name": "PLC-T",
            "host": "127.0.0.1",
            "port": port,
            "timeout_s": 0.5,
            "reconnect_max_delay_s": 0.5,
            **kw,
        }
    )


def mtag(
    name: str,
    table: str,
    address: int,
    type_: str = "float32",
    *,
    low: float = 0,
    high: float = 100,
    period: float = 0.1,
    **extra: Any,
) -> TagConfig:
    modbus = {"table": table, "address": address, "type": type_}
    modbus.update({k: v for k, v in extra.items() if k in ("bit", "byte_order", "unit_id")})
    rest = {k: v for k, v in extra.items() if k not in modbus}
    return tag_config(
        {
            "name": name,
            "unit": "%",
            "range": {"low": low, "high": high},
            "source": "PLC-T",
            "modbus": modbus,
            "scan_period_s": period,
            **rest,
        }
    )


class Collector:
    def __init__(self) -> None:
        self.samples: list[Sample] = []

    def __call__(self, batch: list[Sample]) -> None:
        self.samples.extend(batch)

    def last(self, tag: str) -> Sample | None:
        for s in reversed(self.samples):
            if s.tag == tag:
                return s
        return None

    def has(self, tag: str, quality: Quality) -> bool:
        last = self.last(tag)
        return last is not None and last.quality == quality


# --- every data type × byte order, registers computed independently with struct -----------

# Byte positions (of the big-endian value) that land in the register stream, per order.
PERMUTATIONS = {
    2: {"ABCD": [0, 1], "CDAB": [0, 1], "BADC": [1, 0], "DCBA": [1, 0]},
    4: {"ABCD": [0, 1, 2, 3], "CDAB": [2, 3, 0, 1], "BADC": [1, 0, 3, 2], "DCBA": [3, 2, 1, 0]},
    8: {
        "ABCD": list(range(8)),
        "CDAB": [6, 7, 4, 5, 2, 3, 0, 1],
        "BADC": [1, 0, 3, 2, 5, 4, 7, 6],
        "DCBA": list(range(7, -1, -1)),
    },
}
CASES: dict[str, tuple[str, float]] = {
    "int16": ("h", -12345),
    "uint16": ("H", 54321),
    "int32": ("i", -123456789),
    "uint32": ("I", 3_000_000_000),
    "int64": ("q", -1_234_567_890_123),
    "float32": ("f", 123.456),
    "float64": ("d", -98765.4321),
}


def words(fmt: str, value: float, order: str) -> list[int]:
    raw = struct.pack(">" + fmt, int(value) if fmt in "hHiIq" else value)
    laid = bytes(raw[i] for i in PERMUTATIONS[len(raw)][order])
    return [laid[i] << 8 | laid[i + 1] for i in range(0, len(laid), 2)]


async def test_every_type_and_byte_order_decodes_end_to_end() -> None:
    tags: list[TagConfig] = []
    expected: dict[str, float] = {}
    layout: list[tuple[int, list[int]]] = []
    address = 0
    for order in ByteOrder:
        for type_, (fmt, value) in CASES.items():
            name = f"{type_}.{order.value}"
            tags.append(mtag(name, "input_register", address, type_, low=-1e13, high=1e13, byte_order=order.value))
            regs = words(fmt, value, order.value)
            layout.append((address, regs))
            # float32 is compared at float32 precision: the device can only hold that
            expected[name] = struct.unpack(">f", struct.pack(">f", value))[0] if fmt == "f" else value
            address += ModbusType(type_).registers + 1  # leave one hole between tags
    tags.append(mtag("bit.3", "input_register", address, "bit", bit=3))
    tags.append(mtag("bit.4", "input_register", address, "bit", bit=4))
    layout.append((address, [0b1000]))
    async with modbus_server(device(1, registers=300)) as server:
        for start, regs in layout:
            await server.set(1, FC_INPUT, start, regs)
        got = Collector()
        source = ModbusSource(source_config(server.port, gap_fill_registers=2), tags, got)
        await source.start()
        try:
            await wait_until(lambda: all(got.last(t.name) for t in tags), 5, "every tag read")
        finally:
            await source.stop()
    for name, value in expected.items():
        sample = got.last(name)
        assert sample is not None and sample.quality is Quality.GOOD, name
        assert sample.value == value, name
    assert got.last("bit.3").value == 1.0  # type: ignore[union-attr]
    assert got.last("bit.4").value == 0.0  # type: ignore[union-attr]
    # 4 × (16 registers + 7 one-register holes) + the bit register = 93 ≤ 125, holes ≤ gap fill
    assert address + 1 == 93 and source.health().request_plan_size == 1


async def test_exception_turns_exactly_the_affected_tags_bad_behind_a_gateway() -> None:
    tags = [
        mtag("U1.A", "input_register", 0),
        mtag("U3.A", "input_register", 0, unit_id=3),
        mtag("U3.PAST-END", "input_register", 100, unit_id=3),  # device 3 has registers 0..99
    ]
    async with modbus_server(device(1), device(3, registers=100)) as server:
        await server.set(1, FC_INPUT, 0, words("f", 7.25, "ABCD"))
        await server.set(3, FC_INPUT, 0, words("f", 42.5, "ABCD"))
        got = Collector()
        source = ModbusSource(source_config(server.port, gap_fill_registers=0), tags, got)
        await source.start()
        try:
            await wait_until(lambda: all(got.last(t.name) for t in tags), 5, "every tag reported")
            await asyncio.sleep(0.3)
        finally:
            await source.stop()
    assert got.last("U1.A").value == 7.25 and got.last("U1.A").quality is Quality.GOOD  # type: ignore[union-attr]
    assert got.last("U3.A").value == 42.5 and got.last("U3.A").quality is Quality.GOOD  # type: ignore[union-attr]
    bad = [s for s in got.samples if s.tag == "U3.PAST-END"]
    assert bad and all(s.quality.is_bad for s in bad)
    assert bad[0].reason == ("Modbus exception 2 (illegal data address) reading input registers 100–101 of unit 3")
    assert len(bad) == 1, "a persisting fault is reported once, not every scan"
    assert not any(s.quality.is_bad for s in got.samples if s.tag != "U3.PAST-END")
    assert source.health().error_count >= 1


async def test_regression_gap_fill_over_a_hole_in_the_device_map_is_split_not_bad() -> None:
    # the device answers exception 2 for registers 4..9; gap fill 10 first plans one read 0..11
    tags = [mtag("A", "input_register", 0), mtag("B", "input_register", 2), mtag("C", "input_register", 10)]
    async with modbus_server(device(1, input_blocks=[(0, 4), (10, 4)])) as server:
        await server.set(1, FC_INPUT, 0, words("f", 1.5, "ABCD") + words("f", 2.5, "ABCD"))
        await server.set(1, FC_INPUT, 10, words("f", 3.5, "ABCD"))
        got = Collector()
        source = ModbusSource(source_config(server.port, gap_fill_registers=10), tags, got)
        assert source.health().request_plan_size == 1
        await source.start()
        try:
            await wait_until(lambda: all(got.last(t.name) for t in tags), 5, "every tag read")
            await asyncio.sleep(0.3)
        finally:
            await source.stop()
    assert [got.last(n).value for n in "ABC"] == [1.5, 2.5, 3.5]  # type: ignore[union-attr]
    assert not any(s.quality.is_bad for s in got.samples)
    assert source.health().request_plan_size == 2  # 0..3 and 10..11


async def test_timeout_turns_exactly_the_slow_read_bad() -> None:
    async def slow_at_50(fc: int, _start: int, address: int, _count: int, _regs: list[int], _values: Any) -> None:
        if fc == 4 and address == 50:
            await asyncio.sleep(1.0)  # longer than the source's 0.5 s timeout

    tags = [mtag("A", "input_register", 0), mtag("SLOW", "input_register", 50)]
    async with modbus_server(device(1, action=slow_at_50)) as server:
        await server.set(1, FC_INPUT, 0, words("f", 1.0, "ABCD"))
        got = Collector()
        source = ModbusSource(source_config(server.port, gap_fill_registers=0), tags, got)
        await source.start()
        try:
            await wait_until(lambda: got.last("SLOW") is not None, 5, "the slow read answered or timed out")
        finally:
            await source.stop()
    slow = got.last("SLOW")
    assert slow is not None and slow.quality is Quality.BAD_COMM_FAILURE
    assert slow.reason.startswith("no answer reading input registers 50–51 of unit 1")
    assert [s.value for s in got.samples if s.tag == "A"] and not any(
        s.quality.is_bad for s in got.samples if s.tag == "A"
    )


async def test_lost_link_turns_every_tag_bad_once_and_recovers_by_itself(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="connectors.modbus.source")
    period = 0.2
    tags = [
        mtag("FIT", "input_register", 0, period=period),
        mtag("RUN", "coil", 0, "bool", low=0, high=1, period=period),
    ]
    async with modbus_server(device(1)) as server:
        await server.set(1, FC_INPUT, 0, words("f", 5.5, "ABCD"))
        got = Collector()
        source = ModbusSource(source_config(server.port), tags, got)
        await source.start()
        try:
            await wait_until(
                lambda: got.has("FIT", Quality.GOOD) and got.has("RUN", Quality.GOOD), 5, "first good reads"
            )
            loop = asyncio.get_running_loop()
            await server.stop()
            killed_at = loop.time()
            mark = len(got.samples)
            await wait_until(
                lambda: got.has("FIT", Quality.BAD_NOT_CONNECTED) and got.has("RUN", Quality.BAD_NOT_CONNECTED),
                2 * period + 0.1,
                "every tag Bad within two scan periods",
            )
            assert loop.time() - killed_at <= 2 * period + 0.1
            await asyncio.sleep(1.0)  # outage
            outage = got.samples[mark:]
            assert all(s.quality is Quality.BAD_NOT_CONNECTED for s in outage)
            assert sorted(s.tag for s in outage) == ["FIT", "RUN"], "Bad is said once per tag"
            assert "127.0.0.1" in outage[0].reason
            assert not source.health().connected
            mark = len(got.samples)
            await server.start()  # same port
            restarted = loop.time()
            await wait_until(lambda: got.has("FIT", Quality.GOOD), 5, "acquisition resumes")
            assert loop.time() - restarted < 5
            assert got.samples[mark].quality is Quality.GOOD
            health = source.health()
            assert health.connected and health.reconnect_count == 1
            assert health.error_count >= 3, "several reconnect attempts failed during the outage"
        finally:
            await source.stop()
    ours = [r for r in caplog.records if r.name == "connectors.modbus.source"]
    # Home Assistant coordinator style: one line when it fails, one when it is back
    assert [r.levelno for r in ours] == [logging.WARNING, logging.INFO], [r.getMessage() for r in ours]
    assert "connection restored" in ours[1].getMessage()


async def test_polls_on_a_fixed_grid_without_drift() -> None:
    async with modbus_server(device(1)) as server:
        got = Collector()
        source = ModbusSource(source_config(server.port), [mtag("T", "input_register", 0)], got)
        await source.start()
        try:
            await wait_until(lambda: len(got.samples) >= 16, 5, "sixteen scans")
        finally:
            await source.stop()
    ts = [s.ts.timestamp() for s in got.samples[:16]]
    # the k-th scan is due at t0 + k·0.1 s: jitter is allowed, accumulation is not
    deviations = [ts[k] - ts[0] - k * 0.1 for k in range(len(ts))]
    assert max(abs(d) for d in deviations) < 0.06, deviations


# --- writes --------------------------------------------------------------------------------


async def test_writes_are_range_checked_read_back_and_device_refusals_reach_the_caller() -> None:
    written: list[tuple[int, int, Any]] = []

    async def plc(fc: int, _start: int, address: int, _count: int, _regs: list[int], values: Any) -> ExcCodes | None:
        if fc in (5, 6, 15, 16) and values is not None:
            written.append((fc, address, list(values)))
            if fc in (6, 16) and address == 20:  # this setpoint is locked in the PLC
                return ExcCodes.ILLEGAL_VALUE
        return None

    tags = [
        mtag("P-201.SP", "holding_register", 0, writable=True),
        mtag("P-201.RUN", "coil", 0, "bool", low=0, high=1, writable=True),
        mtag("P-202.SP", "holding_register", 10, "int16", writable=True, scaling={"raw_low": 0, "raw_high": 27648}),
        mtag("LOCKED.SP", "holding_register", 20, writable=True),
        mtag("FIT-100", "input_register", 0),
    ]
    async with modbus_server(device(1, action=plc)) as server:
        source = ModbusSource(source_config(server.port), tags, Collector())
        await source.start()
        try:
            await wait_until(lambda: source.health().connected, 5, "connected")
            ok = await source.write("P-201.SP", 42.5)
            assert ok.accepted and ok.value_read_back == 42.5, ok
            assert await server.get(1, FC_HOLDING, 0, 2) == words("f", 42.5, "ABCD")

            run = await source.write("P-201.RUN", 1)
            assert run.accepted and run.value_read_back == 1.0
            assert (await server.get(1, FC_COILS, 0, 1))[0] in (True, 1)

            scaled = await source.write("P-202.SP", 50)
            assert scaled.accepted and scaled.value_read_back == pytest.approx(50)
            assert await server.get(1, FC_HOLDING, 10, 1) == [13824]  # 50 % of 27648 counts

            before = len(written)
            too_high = await source.write("P-201.SP", 100.5)
            assert not too_high.accepted and "outside its range [0, 100]" in too_high.reason
            read_only = await source.write("FIT-100", 1)
            assert not read_only.accepted and "not writable" in read_only.reason
            assert len(written) == before, "refused writes never reach the device"

            refused = await source.write("LOCKED.SP", 10)
            assert not refused.accepted
            assert refused.reason == (
                "device refused: Modbus exception 3 (illegal data value) writing holding registers 20–21 of unit 1"
            )
        finally:
            await source.stop()


async def test_concurrent_writes_are_serialised_in_one_write_path() -> None:
    async with modbus_server(device(1)) as server:
        tags = [mtag(f"SP{i}", "holding_register", 2 * i, writable=True) for i in range(10)]
        source = ModbusSource(source_config(server.port), tags, Collector())
        await source.start()
        try:
            await wait_until(lambda: source.health().connected, 5, "connected")
            results = await asyncio.gather(*(source.write(f"SP{i}", i * 1.5) for i in range(10)))
            assert all(r.accepted for r in results)
            assert [r.value_read_back for r in results] == [i * 1.5 for i in range(10)]
        finally:
            await source.stop()


async def test_heartbeat_counts_up_in_the_plc() -> None:
    async with modbus_server(device(1)) as server:
        hb = mtag("WATCHDOG", "holding_register", 30, "uint16", high=65535, period=5, writable=True)
        cfg = source_config(server.port, heartbeat_tag="WATCHDOG", heartbeat_period_s=0.1)
        source = ModbusSource(cfg, [hb], Collector())
        await source.start()
        try:
            await wait_until(lambda: source.health().connected, 5, "connected")
            first = (await server.get(1, FC_HOLDING, 30, 1))[0]
            await asyncio.sleep(0.55)
            later = (await server.get(1, FC_HOLDING, 30, 1))[0]
        finally:
            await source.stop()
    assert later - first >= 3, (first, later)


# --- a device that answers garbage ----------------------------------------------------------


async def test_garbage_replies_never_crash_the_source() -> None:
    async def gibberish(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(260):
                # echo the transaction id, then a frame that lies about its length and content
                writer.write(data[:2] + b"\x00\x00\x00\x05\x01\x04\xff\x13\x37garbage\x00")
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    # pymodbus's framer raises inside asyncio's data_received on such frames; the loop reports
    # that to its exception handler. Record it: what matters is that our source survives.
    loop = asyncio.get_running_loop()
    loop_errors: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: loop_errors.append(context))
    server = await asyncio.start_server(gibberish, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    got = Collector()
    source = ModbusSource(source_config(port), [mtag("X", "input_register", 0)], got)
    await source.start()
    try:
        await wait_until(lambda: source.health().error_count >= 2, 5, "errors counted")
        assert not any(s.quality.is_good for s in got.samples)
        assert all(s.reason for s in got.samples)
        assert source.supervisor.running, "acquisition task still alive"
    finally:
        await source.stop()
        server.close()
        await server.wait_closed()
        loop.set_exception_handler(previous)
    assert math.isnan(got.samples[0].value)
    assert all("pymodbus" in repr(c.get("exception")) or "Modbus" in str(c.get("exception")) for c in loop_errors)
