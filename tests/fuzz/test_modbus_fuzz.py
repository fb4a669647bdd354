"""Fuzz of the Modbus source through its real network path against a device that answers wrongly.

For every fault the source must not crash, every poll must end within its timeout (plus a margin),
exactly the polled tags must turn Bad with a reason naming what failed, a wrong frame must never
be taken as a Good value, and once the device answers properly again the values come back Good.
"""

from __future__ import annotations

import asyncio
import math

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from connectors.modbus.config import ModbusSourceConfig
from connectors.modbus.source import ModbusSource
from plantctl.config.models import TagConfig
from plantctl.plantfile import tag_config
from plantctl.quality import Quality
from plantctl.samples import Sample
from tests.connectors.modbus_server import wait_until
from tests.fuzz.fault_server import KINDS, Fault, FaultServer, fault_server

TIMEOUT_S = 0.2
SCAN_S = 0.1
# The longest a poll may take: the source's own bound on a read (2 timeouts + 1 s), plus one scan.
POLL_BOUND_S = TIMEOUT_S * 2 + 1.0 + SCAN_S
MARGIN_S = 1.5  # a loaded 2-core CI machine
RECONNECT_MAX_S = 0.3
EXPECTED = {"FIT-101": 42.5, "LSW-101": 1234.0}

faults = st.builds(
    Fault,
    kind=st.sampled_from(KINDS),
    param=st.integers(min_value=0, max_value=65535),
    noise=st.binary(min_size=1, max_size=300),
)


def tags() -> list[TagConfig]:
    def tag(name: str, address: int, type_: str, high: float) -> TagConfig:
        return tag_config({
            "name": name, "unit": "m3/h" if type_ == "float32" else "count", "range": {"low": 0, "high": high},
            "source": "PLC-F", "scan_period_s": SCAN_S,
            "modbus": {"table": "holding_register", "address": address, "type": type_}})

    return [tag("FIT-101", 0, "float32", 100), tag("LSW-101", 2, "uint16", 65535)]


class Watch:
    """Every batch the source emits, and when."""

    def __init__(self) -> None:
        self.samples: list[Sample] = []

    def __call__(self, batch: list[Sample]) -> None:
        self.samples.extend(batch)

    def last(self, tag: str) -> Sample | None:
        return next((s for s in reversed(self.samples) if s.tag == tag), None)

    def all_good(self) -> bool:
        return all((s := self.last(t)) is not None and s.quality is Quality.GOOD and s.value == v
                   for t, v in EXPECTED.items())

    def all_bad(self, since: int) -> bool:
        recent = {s.tag: s for s in self.samples[since:]}
        return all(t in recent and not recent[t].quality.is_good for t in EXPECTED)


def check_no_wrong_value(watch: Watch) -> None:
    """A Good sample always carries the device's true value: a broken frame never passed as data."""
    for s in watch.samples:
        if s.quality.is_good:
            assert s.value == EXPECTED[s.tag], f"{s.tag} took {s.value} from a faulty frame as Good"


async def walk(sequence: list[Fault]) -> None:
    async with fault_server() as plc:
        watch = Watch()
        cfg = ModbusSourceConfig.model_validate({
            "kind": "modbus", "name": "PLC-F", "host": "127.0.0.1", "port": plc.port, "timeout_s": TIMEOUT_S,
            "reconnect_max_delay_s": RECONNECT_MAX_S})
        source = ModbusSource(cfg, tags(), watch)
        loop = asyncio.get_running_loop()
        await source.start()
        try:
            await wait_until(watch.all_good, 3, "Good values from the healthy device")
            for fault in sequence:
                await one_fault(plc, source, watch, fault, loop)
        finally:
            await asyncio.wait_for(source.stop(), 3)
        check_no_wrong_value(watch)


async def one_fault(plc: FaultServer, source: ModbusSource, watch: Watch, fault: Fault,
                    loop: asyncio.AbstractEventLoop) -> None:
    since = len(watch.samples)
    plc.fault = fault
    started = loop.time()
    await wait_until(lambda: watch.all_bad(since), POLL_BOUND_S + MARGIN_S, f"Bad tags under {fault}")
    assert loop.time() - started <= POLL_BOUND_S + MARGIN_S
    for sample in watch.samples[since:]:
        if sample.quality.is_good:
            continue
        assert math.isnan(sample.value), sample
        where = f"127.0.0.1:{plc.port}" in sample.reason or "holding registers" in sample.reason
        assert where and len(sample.reason) > 20, f"unclear reason {sample.reason!r} under {fault}"
    assert source.supervisor.running, f"a source task ended under {fault}"
    plc.fault = None
    recovered = len(watch.samples)
    # back to Good: one link-loss backoff, a connect and a scan at most
    await wait_until(lambda: watch.all_good() and len(watch.samples) > recovered,
                     RECONNECT_MAX_S + TIMEOUT_S + 1.0 + POLL_BOUND_S + MARGIN_S, f"recovery after {fault}")
    assert source.health().connected


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=st.lists(faults, min_size=1, max_size=3))
@example(sequence=[Fault(k, 3, b"\x00\x01\x00\x00\x00\x06\x01") for k in KINDS])
def test_modbus_source_survives_hostile_devices(sequence: list[Fault]) -> None:
    asyncio.run(walk(sequence))


def test_regression_a_reply_with_another_read_function_code_is_not_taken_as_data() -> None:
    """pymodbus decodes an FC 4 answer to an FC 3 request as registers; the source must refuse it."""
    asyncio.run(walk([Fault("wrong_function", 4)]))


def test_fault_server_is_healthy_by_default() -> None:
    """Control: without a fault the fuzz's device is read as Good (the faults are what fails)."""

    async def run() -> None:
        async with fault_server() as plc:
            watch = Watch()
            cfg = ModbusSourceConfig.model_validate({
                "kind": "modbus", "name": "PLC-F", "host": "127.0.0.1", "port": plc.port, "timeout_s": TIMEOUT_S})
            source = ModbusSource(cfg, tags(), watch)
            await source.start()
            try:
                await wait_until(watch.all_good, 3, "Good values")
                await asyncio.sleep(0.5)
            finally:
                await source.stop()
            assert not any(not s.quality.is_good for s in watch.samples)

    asyncio.run(run())

