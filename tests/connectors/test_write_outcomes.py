"""Each connector maps its library's failures onto a WriteStatus: link, time bound, device, read-back.

Real servers on loopback; the link is cut by a TCP fault proxy (tests/chaos/proxy.py) from inside the
server's own write handler, so the drop happens while the write is in flight.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asyncua import ua
from pymodbus.constants import ExcCodes

from connectors.modbus.source import ModbusSource
from connectors.opcua.source import OpcUaSource
from plantctl.writes import WriteStatus
from tests.chaos.proxy import FaultProxy
from tests.connectors.modbus_server import device, modbus_server, wait_until
from tests.connectors.opcua_server import opcua_server
from tests.connectors.test_modbus_source import Collector as ModbusCollector
from tests.connectors.test_modbus_source import mtag
from tests.connectors.test_modbus_source import source_config as modbus_config
from tests.connectors.test_opcua_source import Collector, source_config, utag

pytestmark = pytest.mark.anyio


async def test_opcua_link_dropping_during_a_write_is_link_down_not_a_device_refusal() -> None:
    async with opcua_server() as plc:
        proxy = FaultProxy(plc.port).start()
        try:
            assert plc.server is not None
            cut: list[float] = []

            def drop_link_on_write(node: Any, _attr: Any, value: ua.DataValue) -> None:
                # the PLC receives the write, then the cable is pulled before its answer leaves
                node.attributes[ua.AttributeIds.Value].value = value
                cut.append(proxy.partition())

            plc.server.set_attribute_value_setter(plc.nodes["P-201.SP"].nodeid, drop_link_on_write)
            endpoint = plc.endpoint.replace(f":{plc.port}/", f":{proxy.port}/")
            source = OpcUaSource(source_config(endpoint), [utag("P-201.SP", "P-201.SP", writable=True)], Collector())
            await source.start()
            try:
                await wait_until(lambda: source.health().connected, 5, "connected through the proxy")
                outcome = await source.write("P-201.SP", 12.5)
                assert cut, "the write reached the PLC"
                assert outcome.status is WriteStatus.LINK_DOWN, outcome
                assert not outcome.accepted and "lost" in outcome.reason
                # and with the link gone, the next write says so at once
                again = await source.write("P-201.SP", 13.0)
                assert again.status is WriteStatus.LINK_DOWN, again
            finally:
                await source.stop()
        finally:
            proxy.stop()


async def test_opcua_outcomes_written_policy_and_device() -> None:
    async with opcua_server() as plc:
        tags = [utag("P-201.SP", "P-201.SP", writable=True), utag("AIT-101", "AIT-101")]
        source = OpcUaSource(source_config(plc.endpoint), tags, Collector())
        await source.start()
        try:
            await wait_until(lambda: source.health().connected, 5, "connected")
            assert (await source.write("P-201.SP", 42.5)).status is WriteStatus.WRITTEN
            assert (await source.write("P-201.SP", 120)).status is WriteStatus.REFUSED_BY_POLICY
            assert (await source.write("AIT-101", 7)).status is WriteStatus.REFUSED_BY_POLICY
            assert (await source.write("P-201.SP", 95)).status is WriteStatus.REFUSED_BY_DEVICE  # PLC limit 90
        finally:
            await source.stop()
    down = OpcUaSource(source_config(plc.endpoint), tags, Collector())  # never started: no session
    assert (await down.write("P-201.SP", 1.0)).status is WriteStatus.LINK_DOWN


async def test_modbus_link_down_timeout_device_and_unconfirmed() -> None:
    proxy: FaultProxy | None = None
    unreadable = {"on": False}
    landed: list[list[int]] = []

    async def plc(fc: int, _start: int, address: int, _count: int, _regs: list[int], values: Any) -> Any:
        if fc == 16 and address == 10 and proxy is not None:
            proxy.partition()  # the cable is pulled while the PLC handles the write
        if fc == 16 and address == 20:
            await asyncio.sleep(1.0)  # longer than the source's 0.5 s timeout: no answer
        if fc == 16 and address == 30:
            return ExcCodes.ILLEGAL_VALUE
        if fc == 16 and address == 40:
            unreadable["on"] = True
            landed.append(list(values))
        if fc == 3 and address == 40 and unreadable["on"]:
            return ExcCodes.DEVICE_FAILURE
        return None

    tags = [mtag(name, "holding_register", addr, writable=True)
            for name, addr in (("OK", 0), ("CUT", 10), ("SLOW", 20), ("LOCKED", 30), ("BLIND", 40))]
    async with modbus_server(device(1, action=plc)) as server:
        proxy = FaultProxy(server.port).start()
        try:
            source = ModbusSource(modbus_config(proxy.port), tags, ModbusCollector())
            await source.start()
            try:
                await wait_until(lambda: source.health().connected, 5, "connected through the proxy")
                assert (await source.write("OK", 1.5)).status is WriteStatus.WRITTEN
                assert (await source.write("OK", 101)).status is WriteStatus.REFUSED_BY_POLICY
                locked = await source.write("LOCKED", 2.0)
                assert locked.status is WriteStatus.REFUSED_BY_DEVICE, locked
                blind = await source.write("BLIND", 3.0)
                assert blind.status is WriteStatus.WRITTEN_NOT_CONFIRMED and blind.accepted, blind
                assert landed, "the unconfirmed write did reach the PLC"
                slow = await source.write("SLOW", 4.0)
                assert slow.status is WriteStatus.TIMEOUT, slow
                await wait_until(lambda: source.health().connected, 5, "still or again connected after the timeout")
                cut = await source.write("CUT", 5.0)
                assert cut.status is WriteStatus.LINK_DOWN, cut
                assert (await source.write("OK", 1.0)).status is WriteStatus.LINK_DOWN
            finally:
                await source.stop()
        finally:
            proxy.stop()
