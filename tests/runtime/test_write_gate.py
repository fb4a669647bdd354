"""The write gate's policy, decided in one place for every origin (pure logic: the source is a recorder)."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field

import pytest

from plantctl.config.models import LoopConfig, LoopMode
from plantctl.plantfile import load_plant
from plantctl.runtime.write_gate import (
    HeartbeatOrigin,
    LoopOrigin,
    OperatorOrigin,
    Origin,
    PolicyCode,
    WriteGate,
)
from plantctl.writes import WriteOutcome, WriteStatus

PLANT = load_plant("examples/plant.yaml")
OPERATOR = OperatorOrigin("olga", "operator", "127.0.0.1", "session", "test")


@dataclass
class Recorder:
    """Takes every write and says it was written: what reaches it is what the gate let through."""

    sent: list[tuple[str, float]] = field(default_factory=list)

    async def write(self, tag: str, value: float) -> WriteOutcome:
        self.sent.append((tag, value))
        return WriteOutcome.written(value)


@dataclass
class FakeLoop:
    cfg: LoopConfig
    mode: LoopMode


def _gate(mode: LoopMode = LoopMode.MAN) -> tuple[WriteGate, Recorder]:
    rec = Recorder()
    loops = {lp.name: FakeLoop(lp, mode) for lp in PLANT.loops}
    return WriteGate(PLANT, {s.name: rec for s in PLANT.sources}, lambda: loops), rec


def _write(gate: WriteGate, tag: str, value: float, origin: Origin) -> WriteOutcome:
    return asyncio.run(gate.write(tag, value, origin))


@pytest.mark.parametrize(("tag", "value", "origin", "code"), [
    ("P-999.RUN", 1, LoopOrigin("PHC-101"), PolicyCode.UNKNOWN_TAG),
    ("AIT-101", 7, LoopOrigin("PHC-101"), PolicyCode.NOT_WRITABLE),
    ("P-201.SP", math.nan, LoopOrigin("PHC-101"), PolicyCode.NOT_FINITE),
    ("P-201.SP", math.inf, LoopOrigin("PHC-101"), PolicyCode.NOT_FINITE),
    ("P-201.SP", 100.5, LoopOrigin("PHC-101"), PolicyCode.OUT_OF_RANGE),
    ("P-201.RUN", 0.5, OPERATOR, PolicyCode.OUT_OF_RANGE),
    ("PLC-1.WATCHDOG", 3, OPERATOR, PolicyCode.HEARTBEAT),
    ("PLC-1.WATCHDOG", 3, LoopOrigin("PHC-101"), PolicyCode.HEARTBEAT),
    ("PLC-1.WATCHDOG", 3, HeartbeatOrigin("PLC-1-OPCUA"), PolicyCode.HEARTBEAT),  # the other source's beat
    ("P-201.RUN", 1, HeartbeatOrigin("PLC-1-MODBUS"), PolicyCode.HEARTBEAT),
    ("P-201.RUN", 1, LoopOrigin("PHC-101"), PolicyCode.NOT_LOOP_OUTPUT),
    ("P-201.RUN", 1, OperatorOrigin("vera", "viewer"), PolicyCode.ROLE),
])
def test_refusals_never_reach_the_source_and_carry_a_code(tag: str, value: float, origin: Origin,
                                                          code: PolicyCode) -> None:
    gate, rec = _gate()
    out = _write(gate, tag, value, origin)
    assert out.status is WriteStatus.REFUSED_BY_POLICY and out.code == code, out
    assert out.reason and not out.accepted
    assert rec.sent == []


def test_each_origin_writes_what_it_may() -> None:
    gate, rec = _gate(LoopMode.AUTO)
    assert _write(gate, "PLC-1.WATCHDOG", 7, HeartbeatOrigin("PLC-1-MODBUS")).accepted
    assert _write(gate, "P-201.SP", 40, LoopOrigin("FC-201")).accepted  # PHC-101's base side, via its flow loop
    assert _write(gate, "XV-410.CMD", 1, LoopOrigin("XV-410")).accepted  # the diversion block
    assert rec.sent == [("PLC-1.WATCHDOG", 7.0), ("P-201.SP", 40.0), ("XV-410.CMD", 1.0)]


def test_nobody_sends_the_discharge_to_the_outfall_by_hand() -> None:
    """The diversion valve has no manual mode: an operator's write is refused in every loop mode."""
    for mode in (LoopMode.MAN, LoopMode.AUTO):
        gate, rec = _gate(mode)
        out = _write(gate, "XV-410.CMD", 0, OPERATOR)
        assert out.code == PolicyCode.LOOP_OWNED and "XV-410" in out.reason and rec.sent == []
        assert _write(gate, "XV-410.CMD", 0, LoopOrigin("PHC-101")).code == PolicyCode.NOT_LOOP_OUTPUT


def test_an_operator_may_not_write_an_output_its_loop_owns_in_auto_or_cas() -> None:
    for mode in (LoopMode.AUTO, LoopMode.CAS):
        gate, rec = _gate(mode)
        out = _write(gate, "P-202.SP", 10, OPERATOR)
        assert out.code == PolicyCode.LOOP_OWNED and "PHC-101" in out.reason and mode.value in out.reason
        assert rec.sent == []


def test_operator_writes_are_refused_without_an_audit_trail() -> None:
    """Applied and audited, or not applied: a service with no audit writer sends no operator write."""
    gate, rec = _gate(LoopMode.MAN)
    out = _write(gate, "P-201.RUN", 1, OPERATOR)
    assert out.code == PolicyCode.AUDIT_UNAVAILABLE and rec.sent == []


def test_a_source_that_raises_is_a_link_failure_not_an_exception() -> None:
    class Broken:
        async def write(self, tag: str, value: float) -> WriteOutcome:
            raise OSError("connection reset by peer")

    gate = WriteGate(PLANT, {s.name: Broken() for s in PLANT.sources}, lambda: None)
    out = _write(gate, "P-201.SP", 10, LoopOrigin("FC-201"))
    assert out.status is WriteStatus.LINK_DOWN and "connection reset" in out.reason


def test_loop_writer_names_the_owning_loop() -> None:
    gate, rec = _gate(LoopMode.AUTO)
    write = gate.loop_writer()
    assert asyncio.run(write("P-201.SP", 12)).accepted
    assert asyncio.run(write("P-201.RUN", 1)).code == PolicyCode.NOT_LOOP_OUTPUT
    assert rec.sent == [("P-201.SP", 12.0)]


@dataclass
class HeartbeatSource(Recorder):
    """A source that keeps the write callable the runtime routes its heartbeat through."""

    name: str = ""
    routed: object = None

    def route_heartbeat(self, write: object) -> None:
        self.routed = write


def test_the_runtime_routes_every_heartbeat_through_the_gate(tmp_path: object) -> None:
    from pathlib import Path

    from plantctl.runtime.service import PlantRuntime

    sources = {s.name: HeartbeatSource(name=s.name) for s in PLANT.sources}
    PlantRuntime(PLANT, state_dir=Path(str(tmp_path)), sources=sources)  # type: ignore[arg-type]
    for src in PLANT.sources:
        routed = sources[src.name].routed
        assert callable(routed), f"{src.name}'s heartbeat is not routed through the gate"
        beat = asyncio.run(routed(src.heartbeat_tag, 7))
        assert beat.status is WriteStatus.WRITTEN and sources[src.name].sent == [(src.heartbeat_tag, 7)]
        other = "P-201.SP"  # the heartbeat origin may write its own tag only
        refused = asyncio.run(routed(other, 1))
        assert refused.status is WriteStatus.REFUSED_BY_POLICY and sources[src.name].sent == [(src.heartbeat_tag, 7)]
