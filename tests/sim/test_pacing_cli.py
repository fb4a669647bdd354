"""`plantctl sim` as a process: prints where it listens, serves, and stops cleanly on Ctrl-C (SIGINT)."""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import sys
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusTcpClient

PLANT_FILE = Path(__file__).resolve().parents[2] / "examples" / "plant.yaml"

pytestmark = pytest.mark.anyio
SCENARIO = PLANT_FILE.parent / "scenarios" / "upset-day.yaml"


def seed_state_dir(state: Path, shelf_file: Path) -> None:
    """Give the process the address-space cache other tests already built (start-up ~0.1 s, not ~2 s)."""
    for part in shelf_file.parent.glob(shelf_file.name + "*"):
        if ".tmp-" not in part.name:
            shutil.copy(part, state / part.name)


async def test_sim_command_serves_until_ctrl_c(tmp_path: Path, shelf_file: Path) -> None:
    seed_state_dir(tmp_path, shelf_file)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sim.cli", "--config", str(PLANT_FILE), "--scenario", str(SCENARIO),
        "--speed", "60", "--opcua-port", "0", "--modbus-port", "0", "--word-order", "CDAB",
        "--state-dir", str(tmp_path), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    try:
        banner = ""
        while "Modbus TCP" not in banner:
            line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
            assert line, f"sim exited early: {banner}"
            banner += line.decode()
        assert "×60" in banner and "opc.tcp://127.0.0.1:" in banner
        m = re.search(r"Modbus TCP\s+127\.0\.0\.1:(\d+) unit 1, float32 CDAB", banner)
        assert m, banner
        client = AsyncModbusTcpClient("127.0.0.1", port=int(m.group(1)), timeout=2, retries=0)
        assert await client.connect()
        rr = await client.read_input_registers(0, count=18, device_id=1)
        assert not rr.isError() and any(rr.registers)
        client.close()
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), timeout=20)
    assert proc.returncode == 0, err.decode()
    assert "stopping" in out.decode()
    assert "Traceback" not in err.decode()


async def test_bad_plant_file_is_reported_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "plant.yaml"
    bad.write_text(PLANT_FILE.read_text().replace("kind: modbus", "kind: modbuss", 1))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sim.cli", "--config", str(bad), "--state-dir", str(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 1
    assert re.search(rf"{re.escape(str(bad))}:\d+: sources\.1\.kind", err.decode()), err.decode()
    assert "Traceback" not in err.decode()
