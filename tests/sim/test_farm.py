"""The PLC farm (`plantctl sim --farm`): real servers in worker processes, read back through the plant file
it writes with the project's own sources — every tag arrives Good, in range, with its unit, and moves."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from connectors.registry import create_sources
from plantctl.plantfile import load_plant
from plantctl.samples import Sample
from sim.farm import INSTRUMENTS, FarmPlc, FarmProtocol, ProcessSignals, plan_farm, plant_document

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]


def test_plan_alternates_protocols_and_names_every_tag_once() -> None:
    plcs = plan_farm(4, 30, FarmProtocol.MIXED)
    assert [p.protocol for p in plcs] == [FarmProtocol.MODBUS, FarmProtocol.OPCUA] * 2
    assert len({p.port for p in plcs}) == 4
    doc = plant_document(plcs, alarm_share=0.2)
    names = [t["name"] for t in doc["tags"]]
    assert len(names) == len(set(names)) == 120
    assert len(doc["alarms"]) == 24  # one tag in five
    assert {a["tag"] for a in doc["alarms"]} <= set(names)
    modbus = [t for t in doc["tags"] if "modbus" in t]
    assert sorted(t["modbus"]["address"] for t in modbus if t["source"] == "PLC-01-MODBUS") == list(range(0, 60, 2))


def test_plan_refuses_an_empty_farm_and_an_oversized_plc() -> None:
    with pytest.raises(ValueError, match="at least one PLC"):
        plan_farm(0, 10)
    with pytest.raises(ValueError, match="input-register table"):
        plan_farm(1, 70_000)


def test_signals_stay_in_range_and_move() -> None:
    plc = FarmPlc(0, FarmProtocol.MODBUS, 1, 600)
    sig = ProcessSignals(plc, seed=1)
    first = sig.step(0.0)
    values = [sig.step(1.0) for _ in range(600)]
    lows = [INSTRUMENTS[i % len(INSTRUMENTS)].low for i in range(600)]
    highs = [INSTRUMENTS[i % len(INSTRUMENTS)].high for i in range(600)]
    for v in values:
        assert all(lo <= x <= hi for x, lo, hi in zip(v.tolist(), lows, highs, strict=True))
    assert (values[-1] != first).all()  # noise alone moves every tag each second


async def test_farm_served_and_read_through_its_plant_file(tmp_path: Path) -> None:
    plant_file = tmp_path / "farm.yaml"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sim.cli", "--farm", "2", "--tags", "150", "--plant-out", str(plant_file),
        "--state-dir", str(tmp_path), cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        assert line.startswith("farm of 2 PLCs, 300 tags"), line
        plant = load_plant(plant_file)
        assert {s.kind for s in plant.sources} == {"modbus", "opcua"}
        units = {t.name: t.unit for t in plant.tags}
        ranges = {t.name: (t.range.low, t.range.high) for t in plant.tags}
        seen: dict[str, list[Sample]] = {}

        def emit(batch: list[Sample]) -> None:
            for s in batch:
                seen.setdefault(s.tag, []).append(s)

        sources = create_sources(plant, emit)
        for src in sources:
            await src.start()
        try:
            for _ in range(150):
                if len(seen) == 300 and all(len(v) >= 3 for v in seen.values()):
                    break
                await asyncio.sleep(0.1)
        finally:
            for src in sources:
                await src.stop()
        assert set(seen) == set(units)
        for tag, samples in seen.items():
            assert all(s.quality.is_good for s in samples), tag
            lo, hi = ranges[tag]
            assert all(lo <= s.value <= hi for s in samples), tag
            assert all(s.ts.utcoffset() is not None for s in samples)
        moved = sum(1 for v in seen.values() if len({s.value for s in v}) > 1)
        assert moved == 300
    finally:
        if proc.returncode is None:
            os.kill(proc.pid, signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    assert "stopping" in out.decode()
