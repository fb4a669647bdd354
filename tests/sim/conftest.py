"""Fixtures for the PLC façade tests: asyncio only, module-scoped servers on free loopback ports."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from pymodbus.client import AsyncModbusTcpClient

from sim.facade import SimulatedPlc
from sim.facade.runner import default_shelf_file
from sim.interface import COMMANDS, FEEDBACK, MEASUREMENTS, CommandRejected, Reading, SensorStatus


class StandInModel:
    """A tiny deterministic plant for unit tests of pure façade logic (never for wire tests)."""

    def __init__(self) -> None:
        self._t_s = 0.0
        self.values = {name: 1.0 + i for i, name in enumerate(MEASUREMENTS)}
        self.status = dict.fromkeys(MEASUREMENTS, SensorStatus.GOOD)
        self.cmd = dict.fromkeys(COMMANDS, 0.0)
        self.safe_reasons: list[str] = []

    @property
    def t_s(self) -> float:
        return self._t_s

    def step(self, dt_s: float) -> None:
        self._t_s += dt_s
        for pump in ("P-201", "P-202"):
            target = self.cmd[f"{pump}.SP"] if self.cmd[f"{pump}.RUN"] else 0.0
            self.values[f"{pump}.SPEED"] = target

    def readings(self) -> dict[str, Reading]:
        out = {n: Reading(self.values[n], self.status[n]) for n in MEASUREMENTS}
        for name in FEEDBACK:
            out[name] = Reading(0.0)
        out["P-201.RUNNING"] = Reading(float(self.cmd["P-201.RUN"]))
        out["P-202.RUNNING"] = Reading(float(self.cmd["P-202.RUN"]))
        return out

    def commanded(self) -> dict[str, float]:
        return dict(self.cmd)

    def command(self, name: str, value: float) -> None:
        if name not in self.cmd:
            raise CommandRejected(f"unknown command {name}")
        if name.endswith(".SP") and not 0.0 <= value <= 100.0:
            raise CommandRejected(f"{name} {value} outside 0..100 %")
        self.cmd[name] = value

    def safe_state(self, reason: str) -> None:
        self.safe_reasons.append(reason)
        for pump in ("P-201", "P-202"):
            self.cmd[f"{pump}.RUN"] = 0.0
            self.cmd[f"{pump}.SP"] = 0.0


# --- real servers over loopback ----------------------------------------------------------------

PLANT_FILE = Path(__file__).resolve().parents[2] / "examples" / "plant.yaml"


@pytest.fixture
def standin_model() -> StandInModel:
    """A fresh stand-in plant for unit tests of pure façade logic."""
    return StandInModel()


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    """Module-scoped so one simulated PLC can serve a whole test module (asyncua/pymodbus are asyncio-only)."""
    return "asyncio"


@pytest.fixture(scope="session")
def sim_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sim-state")


@pytest.fixture(scope="session")
def shelf_file() -> Path:
    """The standard address space cache, shared by every test run of this user (published atomically)."""
    return default_shelf_file(Path(tempfile.gettempdir()) / f"plantctl-sim-tests-{os.getuid()}")


@pytest.fixture(scope="session")
def plc_factory(sim_state_dir: Path, shelf_file: Path) -> Callable[..., SimulatedPlc]:
    """Build a SimulatedPlc of the example plant on free loopback ports (the real PlantModel)."""
    def make(**kw: Any) -> SimulatedPlc:
        kw.setdefault("opcua_port", 0)
        kw.setdefault("modbus_port", 0)
        return SimulatedPlc(PLANT_FILE, state_dir=sim_state_dir, shelf_file=shelf_file, **kw)
    return make


@pytest.fixture(scope="module")
async def plc(plc_factory: Callable[..., SimulatedPlc]) -> AsyncIterator[SimulatedPlc]:
    """One paused PLC for a module: tests move simulated time with `await plc.advance(dt)`."""
    async with plc_factory(speed=1.0, watchdog_timeout_s=0) as sim:  # watchdog tests run their own PLC
        await sim.pause()
        yield sim


@pytest.fixture(scope="module")
async def modbus(plc: SimulatedPlc) -> AsyncIterator[AsyncModbusTcpClient]:
    client = AsyncModbusTcpClient(plc.modbus_host, port=plc.modbus_port, timeout=2, retries=0)
    assert await client.connect(), "Modbus client could not connect to the simulated PLC"
    yield client
    client.close()
