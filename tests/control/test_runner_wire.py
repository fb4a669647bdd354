"""The loop runner closing PHC-101 over real OPC UA and Modbus TCP links to the simulated PLC (loopback)."""

from __future__ import annotations

import asyncio
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from control.events import EventLog, LoopEventKind
from control.group import LoopGroup
from control.runner import LoopRunner
from plantctl.config.models import PlantConfig
from plantctl.plantfile import load_plant
from plantctl.runtime.service import PlantRuntime
from sim.facade.runner import SimulatedPlc, default_shelf_file
from tests.support import sources_on

PLANT_FILE = Path(__file__).resolve().parents[2] / "examples" / "plant.yaml"


def _pointed_at(plant: PlantConfig, sim: SimulatedPlc) -> PlantConfig:
    """The example plant with its sources on the test PLC's free ports (no heartbeat: watchdog off)."""
    plant = sources_on(plant, sim.opcua_endpoint, sim.modbus_port, heartbeat=False)
    # AIT-101 without a deadband: the asyncua 2.1 *server* raises in its deadband filter when a Bad
    # status nulls the value (None − float), so a filtered subscription never sees the failure.
    tags = [t.model_copy(update={"deadband": 0.0}) if t.name == "AIT-101" else t for t in plant.tags]
    return plant.model_copy(update={"tags": tags})


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_runner_keeps_ph_over_the_wire_and_holds_when_the_electrode_fails(tmp_path: Path) -> None:
    async def main() -> None:
        shelf = default_shelf_file(Path(tempfile.gettempdir()) / f"plantctl-sim-tests-{os.getuid()}")
        sim = SimulatedPlc(PLANT_FILE, opcua_port=0, modbus_port=0, state_dir=tmp_path / "sim", shelf_file=shelf,
                           speed=5.0, watchdog_timeout_s=0)
        async with sim:
            plant = _pointed_at(load_plant(PLANT_FILE), sim)
            runtime = PlantRuntime(plant, state_dir=tmp_path / "state")
            log = EventLog()
            group = LoopGroup(plant, log)
            runner = LoopRunner(group, runtime.gate.loop_writer(), log)
            runtime.bus.add_tap("control", runner.tap)
            await runtime.start()
            try:
                for _ in range(100):  # wait for both links
                    if runtime.ready():
                        break
                    await asyncio.sleep(0.1)
                assert runtime.ready()
                for tag in ("P-201.RUN", "P-202.RUN", "P-401.RUN", "P-402.RUN"):  # plant setup at the source
                    assert (await runtime.sources[plant.tag(tag).source].write(tag, 1.0)).accepted
                loop = group.loops["PHC-101"]
                loop.set_setpoint(7.5, "test", datetime.now(UTC))  # the simulated tank's starting pH
                await runner.start()
                for _ in range(100):
                    if log.of(LoopEventKind.MODE_CHANGE):
                        break
                    await asyncio.sleep(0.1)
                assert log.of(LoopEventKind.MODE_CHANGE), "the loop never saw a usable pH"
                await asyncio.sleep(6.0)  # 30 s of plant time
                commanded = sim.model.commanded()
                written = runner.written
                # PHC-101's acid side, its base through FC-201, T-401's loops and the diversion valve
                assert {"P-201.SP", "P-202.SP", "P-401.SP", "XV-410.CMD"} <= set(written)
                for tag, value in written.items():  # what the loops wrote is what the PLC holds (float32)
                    assert commanded[tag] == pytest.approx(value, abs=1e-4)
                # the flow loop follows PHC-101's base side (output less half the 0.2 % dead band, 2.5 L/h per %)
                fc = group.loops["FC-201"]
                assert fc.mode.value == "CAS"
                assert fc.remote_setpoint == pytest.approx(max(loop.output - 0.1, 0.0) * 2.5, abs=0.3)
                ph = sim.model.true_state().ph  # type: ignore[attr-defined]
                assert 6.0 < ph < 9.0
                sim.model.sensors["AIT-101"].fail()  # type: ignore[attr-defined]
                for _ in range(60):  # one electrode failed: out of the vote, control carries on with two
                    if log.of(LoopEventKind.ELECTRODE_REMOVED):
                        break
                    await asyncio.sleep(0.1)
                assert [e for e in log.of(LoopEventKind.ELECTRODE_REMOVED) if e.data.get("electrode") == "AIT-101"]
                assert not log.of(LoopEventKind.FAIL_SAFE_HOLD)
                sim.model.sensors["AIT-104"].fail()  # type: ignore[attr-defined]
                for _ in range(60):  # a second one: the vote is lost and the loop holds
                    if log.of(LoopEventKind.FAIL_SAFE_HOLD):
                        break
                    await asyncio.sleep(0.1)
                holds = log.of(LoopEventKind.FAIL_SAFE_HOLD)
                assert holds and "vote lost" in holds[0].reason and "AIT-101" in holds[0].reason
                assert loop.fail_safe.value == "hold"
                assert not log.of(LoopEventKind.OUTPUT_WRITE_FAILED)
            finally:
                await runner.stop()
                await runtime.stop()

    asyncio.run(main())
