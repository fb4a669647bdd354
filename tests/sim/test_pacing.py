"""Pacing of the simulated PLC: wall clock × speed, simulated timestamps, falling behind, comms drops, stop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from asyncua import Client
from pymodbus.client import AsyncModbusTcpClient

from plantctl.clock import VirtualClock
from sim.facade import SimulatedPlc
from sim.facade.runner import Pacing
from sim.interface import Reading
from sim.model import PlantModel

PLANT_FILE = Path(__file__).resolve().parents[2] / "examples" / "plant.yaml"

pytestmark = pytest.mark.anyio


class SlowPlant:
    """The real PlantModel behind a CPU that needs 3 ms per step (a stand-in for an overloaded host); the 3 ms
    pass on the virtual clock the pacing runs on."""

    def __init__(self, clock: VirtualClock) -> None:
        self.inner = PlantModel.from_plant_file(PLANT_FILE)
        self.clock = clock

    @property
    def t_s(self) -> float:
        return self.inner.t_s

    def step(self, dt_s: float) -> None:
        self.clock.elapse(0.003)
        self.inner.step(dt_s)

    def readings(self) -> dict[str, Reading]:
        return self.inner.readings()

    def commanded(self) -> dict[str, float]:
        return self.inner.commanded()

    def command(self, name: str, value: float) -> None:
        self.inner.command(name, value)

    def safe_state(self, reason: str) -> None:
        self.inner.safe_state(reason)


async def test_speed_runs_simulated_time_faster_and_stamps_values_in_simulated_time(
        plc_factory: Callable[..., SimulatedPlc]) -> None:
    clock = VirtualClock()
    async with plc_factory(speed=100, clock=clock) as sim:
        t0 = sim.model.t_s
        await clock.advance(1.0)  # one (virtual) wall-clock second: exactly 100 simulated seconds
        assert sim.model.t_s - t0 == pytest.approx(100.0, abs=1e-9)
        await clock.advance(0.35)  # three more 0.1 s ticks; the fourth is not due yet
        assert sim.model.t_s - t0 == pytest.approx(130.0, abs=1e-9)
        async with Client(sim.opcua_endpoint, timeout=5) as client:
            dv = await client.get_node("ns=2;s=Plant.T101.AIT-101").read_data_value()
            now = datetime.now(UTC)
        assert dv.SourceTimestamp.tzinfo is not None
        ahead_s = (dv.SourceTimestamp - now).total_seconds()
        assert ahead_s > 50.0, f"source timestamp only {ahead_s:.1f} s ahead of wall clock at ×100"
        assert dv.ServerTimestamp == dv.SourceTimestamp


async def test_falling_behind_real_time_is_counted_and_logged(
        plc_factory: Callable[..., SimulatedPlc], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="sim.facade.runner")
    clock = VirtualClock()
    async with plc_factory(speed=1000, model=SlowPlant(clock), clock=clock) as sim:
        # needs 100 steps of 1 s per 0.1 s tick; a tick's budget (80 ms) holds 27 of 3 ms
        await clock.advance(1.0)
        assert 10 * 27 <= sim.model.t_s <= 11 * 27
        assert sim.behind_ticks > 0
        assert sim.lag_s > 0.5
    assert any("falls behind real time" in r.message for r in caplog.records)


async def eventually(cond: Callable[[], bool], within_s: float = 5.0) -> None:
    for _ in range(int(within_s / 0.02)):
        if cond():
            return
        await asyncio.sleep(0.02)
    assert cond()


async def test_scenario_comms_drop_takes_modbus_off_the_network_then_back(
        plc_factory: Callable[..., SimulatedPlc], tmp_path: Path) -> None:
    scenario = tmp_path / "drop.yaml"
    scenario.write_text('scenario: drop\nduration_h: 1\nevents:\n'
                        '  - {at: "0:00:01", comms_drop: {server: modbus, duration_s: 3}}\n')
    async with plc_factory(scenario=scenario) as sim:
        client = AsyncModbusTcpClient(sim.modbus_host, port=sim.modbus_port, timeout=1, retries=0,
                                      reconnect_delay=0)
        assert await client.connect()
        assert not (await client.read_input_registers(0, count=2, device_id=1)).isError()
        assert sim.model.t_s < 1.0 and sim.modbus.listening
        await eventually(lambda: not sim.modbus.listening)
        assert 1.0 <= sim.model.t_s < 4.0  # off at the scenario's time, not before
        await eventually(lambda: not client.connected, within_s=2.0)  # the drop closed the open connection
        with pytest.raises(OSError):
            _, writer = await asyncio.open_connection(sim.modbus_host, sim.modbus_port)
            writer.close()
        async with Client(sim.opcua_endpoint, timeout=5) as ua_client:  # OPC UA unaffected
            assert await ua_client.get_node("ns=2;s=Plant.T101.AIT-101").read_value() > 0
        await eventually(lambda: sim.modbus.listening, within_s=10.0)
        assert sim.model.t_s >= 4.0
        client.close()
        client = AsyncModbusTcpClient(sim.modbus_host, port=sim.modbus_port, timeout=1, retries=0)
        assert await client.connect()
        assert not (await client.read_input_registers(0, count=2, device_id=1)).isError()
        client.close()


async def test_manual_opcua_outage_refuses_connections_and_comes_back_on_the_same_port(
        plc_factory: Callable[..., SimulatedPlc]) -> None:
    async with plc_factory() as sim:
        await sim.stop_server("opcua")
        with pytest.raises(OSError):
            _, writer = await asyncio.open_connection(*sim.opcua_endpoint[len("opc.tcp://"):].split("/")[0].split(":"))
            writer.close()
        await sim.start_server("opcua")
        async with Client(sim.opcua_endpoint, timeout=5) as client:
            assert await client.get_node("ns=2;s=Plant.Influent.FIT-100").read_value() > 0


async def test_stop_cancels_the_pacing_task_and_closes_both_ports(plc_factory: Callable[..., SimulatedPlc]) -> None:
    before = asyncio.all_tasks()
    sim = plc_factory(speed=10)
    await sim.start()
    port = sim.modbus_port
    await sim.stop_server("opcua")
    await sim.start_server("opcua")
    await sim.stop()
    await asyncio.sleep(0.05)
    assert asyncio.all_tasks() - before == set(), "tasks left behind after stop()"
    with pytest.raises(OSError):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()
    t = sim.model.t_s
    await asyncio.sleep(0.3)
    assert sim.model.t_s == t  # nothing steps the model any more


@pytest.mark.parametrize("speed", [0.5, 1001, float("nan")])
def test_speed_outside_1_to_1000_is_a_clear_error(speed: float) -> None:
    with pytest.raises(ValueError, match="speed must be 1"):
        Pacing(speed=speed)


async def test_at_speed_1_source_timestamps_keep_up_with_the_wall_clock(tmp_path: Path) -> None:
    """Issue 17 problem 10: the time spent starting the servers (a fresh state folder: certificates and the
    shelf made first, seconds) must not leave the stamps that far behind."""
    sim = SimulatedPlc(PLANT_FILE, opcua_port=0, modbus_port=0, state_dir=tmp_path / "state",
                       shelf_file=tmp_path / "shelf", speed=1.0)
    async with sim, Client(sim.opcua_endpoint, timeout=5) as client:
        node = client.get_node("ns=2;s=Plant.T101.AIT-101")
        behind = []
        for _ in range(5):
            await asyncio.sleep(0.3)
            dv = await node.read_data_value()
            behind.append((datetime.now(UTC) - dv.SourceTimestamp).total_seconds())
    # a value is stamped when published (every tick_s = 0.1 s); allow one tick plus the read's round trip
    assert all(-0.05 <= b <= 0.5 for b in behind), f"source timestamps behind the wall clock by {behind} s"
