"""Issue 17 problem 5: nsu= node ids, resolved at connect and again on reconnect, against a real OPC UA server."""

from __future__ import annotations

import pytest

from connectors.opcua.source import OpcUaSource
from plantctl.config.models import TagConfig
from plantctl.plantfile import tag_config
from plantctl.quality import Quality
from tests.connectors.modbus_server import wait_until
from tests.connectors.opcua_server import NS_URI, opcua_server
from tests.connectors.test_opcua_source import Collector, source_config


def utag(name: str, node_id: str, *, poll: bool = False, low: float = 0, high: float = 100) -> TagConfig:
    address = {"node_id": node_id, **({"acquisition": "poll"} if poll else {})}
    return tag_config({"name": name, "unit": "pH", "range": {"low": low, "high": high}, "source": "PLC-UA",
                       "opcua": address, "scan_period_s": 0.2})

pytestmark = pytest.mark.anyio


async def test_nsu_node_ids_resolve_at_connect_and_again_after_the_index_moved() -> None:
    async with opcua_server() as plc:
        tags = [
            utag("AIT-101", f"nsu={NS_URI};s=Plant.T101.AIT-101", low=0, high=14),
            utag("LIT-101", f"nsu={NS_URI};s=Plant.T101.LIT-101", poll=True),
        ]
        got = Collector()
        source = OpcUaSource(source_config(plc.endpoint), tags, got)
        await source.start()
        try:
            await wait_until(lambda: got.has("AIT-101", Quality.GOOD, 7.25) and got.has("LIT-101", Quality.GOOD, 55.0),
                             5, "both nsu= tags read")
            # the PLC project is re-downloaded: our namespace now sits at another index
            await plc.stop()
            plc.namespaces_before = ["urn:vendor:first", "urn:vendor:second"]
            await plc.start()
            mark = len(got.samples)
            await wait_until(lambda: source.health().reconnect_count >= 1, 10, "reconnected")
            await plc.set("AIT-101", 8.5)
            await wait_until(lambda: got.has("AIT-101", Quality.GOOD, 8.5) and got.has("LIT-101", Quality.GOOD),
                             5, "values after the move")
            assert all(s.quality is not Quality.BAD_CONFIG_ERROR for s in got.samples[mark:]), got.samples[mark:]
        finally:
            await source.stop()


async def test_an_unknown_namespace_uri_names_the_ones_the_server_offers() -> None:
    async with opcua_server() as plc:
        source = OpcUaSource(source_config(plc.endpoint), [utag("X", "nsu=urn:not:there;s=Plant.X")], Collector())
        await source.start()
        try:
            await wait_until(lambda: source.health().last_error is not None, 5, "the failure reported")
            error = source.health().last_error or ""
            assert "'urn:not:there' is not on" in error and NS_URI in error, error
        finally:
            await source.stop()
