"""Issue 17 problem 4: a server that stamps only on change makes a steady polled value look old unless the
source trusts receipt time (real OPC UA server)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from asyncua import ua

from connectors.opcua.source import OpcUaSource
from plantctl.quality import Quality
from plantctl.samples import utcnow
from tests.connectors.modbus_server import wait_until
from tests.connectors.opcua_server import opcua_server
from tests.connectors.test_opcua_source import Collector, source_config, utag

pytestmark = pytest.mark.anyio

STAMPED = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)  # the PLC stamped the value on its last change, long ago


@pytest.mark.parametrize("policy", ["source", "receipt"])
async def test_timestamp_policy_decides_which_time_a_steady_value_carries(policy: str) -> None:
    async with opcua_server() as plc:
        await plc.nodes["LIT-101"].write_value(
            ua.DataValue(ua.Variant(55.0, ua.VariantType.Double), SourceTimestamp=STAMPED))
        got = Collector()
        source = OpcUaSource(source_config(plc.endpoint, timestamp=policy),
                             [utag("LIT-101", "LIT-101", poll=True, period=0.1)], got)
        before = utcnow()
        await source.start()
        try:
            await wait_until(lambda: got.has("LIT-101", Quality.GOOD, 55.0), 5, "a good read")
            await asyncio.sleep(0.3)
        finally:
            await source.stop()
    samples = [s for s in got.samples if s.tag == "LIT-101"]
    assert len(samples) >= 3, "every poll of the steady value is stored"
    if policy == "source":
        assert all(s.ts == STAMPED for s in samples)
    else:
        assert all(before <= s.ts <= utcnow() + timedelta(seconds=1) for s in samples)
        assert len({s.ts for s in samples}) == len(samples), "each row has its own receipt time"
