"""Issue 17 problem 4: a server that stamps only on change makes a steady polled value look old unless the
source trusts receipt time; staleness is judged by receipt time whatever the policy (real OPC UA server)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from asyncua import ua

from connectors.opcua.source import OpcUaSource
from control.events import EventLog, LoopEventKind
from control.loop import FailSafeState, Loop
from plantctl.config.models import LoopMode
from plantctl.quality import Quality
from plantctl.samples import Sample, utcnow
from tests.connectors.modbus_server import wait_until
from tests.connectors.opcua_server import opcua_server
from tests.connectors.test_opcua_source import Collector, source_config, utag
from tests.control.test_loop import cfg as loop_cfg

pytestmark = pytest.mark.anyio

STAMPED = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)  # the PLC stamped the value on its last change, long ago


@pytest.mark.parametrize("policy", ["source", "server", "receipt"])
async def test_timestamp_policy_decides_which_time_a_steady_value_carries(policy: str) -> None:
    async with opcua_server() as plc:
        written = utcnow()
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
    elif policy == "server":  # the server's stamp (asyncua's: when the value was written), not the device's
        assert all(written <= s.ts <= before and s.received is not None and s.ts <= s.received for s in samples)
    else:
        assert all(before <= s.ts <= utcnow() + timedelta(seconds=1) for s in samples)
        assert len({s.ts for s in samples}) == len(samples), "each row has its own receipt time"


def _loop_in_auto(now: datetime) -> tuple[Loop, EventLog]:
    """The control tests' pH loop (stale_after_s 4 s), in AUTO on fresh values at `now`."""
    log = EventLog()
    loop = Loop(loop_cfg(), log, "pH")
    for tag, value in (("AIT-1", 7.0), ("LIT-1", 50.0), ("P-1.FAULT", 0.0)):
        loop.on_sample(Sample(tag, now, value))
    loop.execute(now, 1.0)
    loop.set_output(4.0, "op", now)
    loop.set_mode(LoopMode.AUTO, "op", now)
    return loop, log


async def _read_once(stamp: datetime) -> Sample:
    """One polled sample of a node the PLC stamped at `stamp`, with the default timestamp policy (source)."""
    async with opcua_server() as plc:
        await plc.nodes["LIT-101"].write_value(
            ua.DataValue(ua.Variant(7.2, ua.VariantType.Double), SourceTimestamp=stamp))
        got = Collector()
        source = OpcUaSource(source_config(plc.endpoint), [utag("AIT-1", "LIT-101", poll=True, period=0.1)], got)
        await source.start()
        try:
            await wait_until(lambda: got.has("AIT-1", Quality.GOOD, 7.2), 5, "a good read")
        finally:
            await source.stop()
    return next(s for s in got.samples if s.tag == "AIT-1")


async def test_an_old_source_stamp_does_not_make_a_fresh_value_stale() -> None:
    sample = await _read_once(STAMPED)
    assert sample.ts == STAMPED, "the stored time follows the source's policy"
    now = utcnow()
    loop, log = _loop_in_auto(now)
    loop.on_sample(sample)
    loop.execute(now, 1.0)
    assert not log.of(LoopEventKind.FAIL_SAFE_HOLD), [e.reason for e in log.of(LoopEventKind.FAIL_SAFE_HOLD)]
    assert loop.fail_safe is FailSafeState.NORMAL


async def test_a_future_source_stamp_does_not_keep_a_value_fresh_once_none_arrives() -> None:
    sample = await _read_once(utcnow() + timedelta(hours=1))  # the PLC's clock is an hour ahead
    later = utcnow() + timedelta(seconds=5)  # nothing received for 5 s; stale_after_s is 4 s
    loop, log = _loop_in_auto(later - timedelta(seconds=5))
    loop.on_sample(sample)
    for tag, value in (("LIT-1", 50.0), ("P-1.FAULT", 0.0)):
        loop.on_sample(Sample(tag, later, value))
    loop.execute(later, 1.0)
    held = log.of(LoopEventKind.FAIL_SAFE_HOLD)
    assert held and "stale" in held[-1].reason
