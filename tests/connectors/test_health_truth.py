"""Issue 17 problem 7: health tells the truth — errors clear on recovery, refusals stay on the write, counters count."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymodbus.constants import ExcCodes

from connectors.modbus.source import ModbusSource
from connectors.opcua.source import OpcUaSource
from plantctl.quality import Quality
from tests.connectors.modbus_server import device, modbus_server, wait_until
from tests.connectors.opcua_server import opcua_server
from tests.connectors.test_modbus_source import Collector, mtag, source_config
from tests.connectors.test_opcua_source import source_config as ua_source_config
from tests.connectors.test_opcua_source import utag

pytestmark = pytest.mark.anyio


async def test_last_error_clears_on_recovery_and_is_kept_as_history() -> None:
    tags = [mtag("FIT", "input_register", 0, period=0.1)]
    async with modbus_server(device(1)) as server:
        got = Collector()
        source = ModbusSource(source_config(server.port), tags, got)
        await source.start()
        try:
            await wait_until(lambda: got.has("FIT", Quality.GOOD), 5, "first good read")
            await server.stop()
            await wait_until(lambda: source.health().last_error is not None, 3, "the outage is reported")
            failed = source.health()
            assert failed.last_error_at is not None
            await server.start()  # same port
            await wait_until(lambda: source.health().connected, 5, "reconnected")
            await asyncio.sleep(0.3)  # a few good scans after the reconnect
            health = source.health()
            assert health.last_error is None, "a recovered source shows no current error"
            assert health.last_error_at is not None and health.last_error_at >= failed.last_error_at
            assert health.reconnect_count == 1
        finally:
            await source.stop()


async def test_a_device_refusal_is_reported_on_the_write_not_as_the_source_error() -> None:
    async def plc(fc: int, _start: int, address: int, _count: int, _regs: list[int], values: Any) -> ExcCodes | None:
        if fc in (6, 16) and values is not None and address == 20:
            return ExcCodes.ILLEGAL_VALUE
        return None

    tags = [mtag("LOCKED.SP", "holding_register", 20, writable=True, period=0.1)]
    async with modbus_server(device(1, action=plc)) as server:
        source = ModbusSource(source_config(server.port), tags, Collector())
        await source.start()
        try:
            await wait_until(lambda: source.health().connected, 5, "connected")
            refused = await source.write("LOCKED.SP", 10)
            assert not refused.accepted and "illegal data value" in refused.reason
            health = source.health()
            assert health.last_error is None and health.error_count == 0
        finally:
            await source.stop()


async def test_per_source_counters_count_requests_exceptions_and_round_trips() -> None:
    tags = [
        mtag("FIT", "input_register", 0, period=0.1),
        mtag("MISSING", "input_register", 150, period=0.1),  # the device has registers 0..99 only
    ]
    async with modbus_server(device(1, registers=100)) as server:
        got = Collector()
        source = ModbusSource(source_config(server.port), tags, got)
        await source.start()
        try:
            await wait_until(lambda: source.health().requests >= 10, 5, "ten requests")
        finally:
            await source.stop()
    health = source.health()
    assert health.exceptions.get("2", 0) >= 1, health.exceptions  # illegal data address, by code
    assert health.timeouts == 0
    assert health.round_trip_mean_ms is not None and 0 < health.round_trip_mean_ms < 1000
    assert health.round_trip_p99_ms is not None and health.round_trip_p99_ms >= health.round_trip_mean_ms


async def test_an_opcua_server_refusal_is_reported_on_the_write_not_as_the_source_error() -> None:
    async with opcua_server() as plc:
        tags = [utag("P-201.SP", "P-201.SP", writable=True)]
        source = OpcUaSource(ua_source_config(plc.endpoint), tags, Collector())
        await source.start()
        try:
            await wait_until(lambda: source.health().connected, 5, "connected")
            refused = await source.write("P-201.SP", 95)  # the test PLC limits it to 90
            assert not refused.accepted and refused.reason.startswith("device refused: BadOutOfRange")
            health = source.health()
            assert health.last_error is None and health.error_count == 0, health
        finally:
            await source.stop()


async def test_a_read_error_clears_at_the_next_good_read_without_a_reconnect() -> None:
    refusing = {"left": 3}

    async def busy_plc(fc: int, _start: int, _addr: int, _count: int, _regs: list[int], values: Any) -> ExcCodes | None:
        if fc == 4 and values is None and refusing["left"] > 0:
            refusing["left"] -= 1
            return ExcCodes.DEVICE_BUSY
        return None

    tags = [mtag("FIT", "input_register", 0, period=0.1)]
    async with modbus_server(device(1, action=busy_plc)) as server:
        got = Collector()
        source = ModbusSource(source_config(server.port), tags, got)
        await source.start()
        try:
            await wait_until(lambda: source.health().error_count >= 1, 5, "a refused read")
            await wait_until(lambda: got.has("FIT", Quality.GOOD), 5, "a good read after the refusals")
            health = source.health()
            assert health.last_error is None, f"the device answers again, yet health says {health.last_error!r}"
            assert health.last_error_at is not None and health.reconnect_count == 0
        finally:
            await source.stop()


async def test_a_read_that_keeps_failing_stays_the_error_while_other_reads_succeed() -> None:
    tags = [
        mtag("FIT", "input_register", 0, period=0.1),
        mtag("MISSING", "input_register", 150, period=0.1),  # the device has registers 0..99 only
    ]
    async with modbus_server(device(1, registers=100)) as server:
        got = Collector()
        source = ModbusSource(source_config(server.port), tags, got)
        await source.start()
        try:
            await wait_until(lambda: got.has("FIT", Quality.GOOD) and source.health().requests >= 10, 5, "scans")
            health = source.health()
            assert health.last_error is not None and "150" in health.last_error, health.last_error
        finally:
            await source.stop()
