"""`plantctl probe opcua`: one read per node with value, status, both timestamps, type, EU range and a verdict
(the simulated PLC and a test PLC over loopback, through the real command)."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asyncua import ua

from connectors.opcua.probe import NodeReading, Verdict, judge_reading
from plantctl.samples import utcnow
from sim.facade import SimulatedPlc
from sim.facade.points import BY_NODE_ID, NAMESPACE_URI
from sim.facade.runner import default_shelf_file
from tests.connectors.opcua_server import opcua_server

pytestmark = pytest.mark.anyio
REPO = Path(__file__).resolve().parents[2]
PLANT_FILE = REPO / "examples" / "plant.yaml"
SHELF = default_shelf_file(Path(tempfile.gettempdir()) / f"plantctl-sim-tests-{os.getuid()}")
AIT = "ns=2;s=Plant.T101.AIT-101"


async def plantctl(*args: str, env: dict[str, str] | None = None, stdin: bytes = b"") -> tuple[int, str, str]:
    """The real command in its own process (it runs its own event loop), with a bounded wait."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "plantctl.cli", *args, cwd=REPO, env={**os.environ, **(env or {})},
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def blocks(output: str) -> dict[str, str]:
    """The probe's output per node id."""
    found: dict[str, str] = {}
    current = ""
    for line in output.splitlines():
        if not line.startswith(" "):
            current = line
            found[current] = ""
        else:
            found[current] += line.strip() + "\n"
    return found


async def test_probe_the_simulated_plc_gives_value_status_timestamps_range_and_verdict(tmp_path: Path) -> None:
    assert AIT in BY_NODE_ID
    sim = SimulatedPlc(PLANT_FILE, opcua_port=0, modbus_port=0, state_dir=tmp_path, shelf_file=SHELF,
                       watchdog_timeout_s=0)
    async with sim:
        code, out, err = await plantctl(
            "probe", "opcua", sim.opcua_endpoint, AIT, f"nsu={NAMESPACE_URI};s=Plant.T101.AIT-101",
            "ns=2;s=Plant.T101.NO-SUCH-NODE", "not-a-node-id")
    assert code == 1, (out, err)  # some nodes are not usable
    found = blocks(out)
    ait = found[AIT]
    assert "status       Good (0x00000000)" in ait, ait
    assert "(Float)" in ait and "EU range     [0, 14] pH" in ait
    assert "source time  20" in ait and "server time  20" in ait and "s ago" in ait
    assert "verdict      OK" in ait
    assert "verdict      OK" in found[f"nsu={NAMESPACE_URI};s=Plant.T101.AIT-101"], "nsu= is resolved"
    assert "BadNodeIdUnknown" in found["ns=2;s=Plant.T101.NO-SUCH-NODE"]
    assert "plantctl browse" in found["ns=2;s=Plant.T101.NO-SUCH-NODE"]
    assert "is not an OPC UA node id" in found["not-a-node-id"]


async def test_probe_says_an_old_source_stamp_needs_timestamp_receipt() -> None:
    async with opcua_server() as plc:
        await plc.nodes["LIT-101"].write_value(ua.DataValue(
            ua.Variant(55.0, ua.VariantType.Double), SourceTimestamp=datetime(2026, 1, 1, tzinfo=UTC)))
        node = plc.nodes["LIT-101"].nodeid.to_string()
        code, out, err = await plantctl("probe", "opcua", plc.endpoint, node)
        assert code == 0, (out, err)  # usable, with a warning
        verdict = blocks(out)[node]
        assert "verdict      WARN: source timestamp" in verdict and "set timestamp: receipt" in verdict, verdict
        code, out, err = await plantctl("probe", "opcua", plc.endpoint, "ns=2;s=Plant.T101.Mode")
    assert code == 1, (out, err)
    assert "verdict      BAD: holds a String, not a number" in out, out


def test_a_source_clock_ahead_of_ours_is_a_warning() -> None:
    now = utcnow()
    reading = NodeReading("ns=2;s=X", 5.0, "Double", "Good", 0, now + timedelta(seconds=30), now, now)
    verdict, why = judge_reading(reading, 60)
    assert verdict is Verdict.WARN and "ahead of this computer's clock" in why
    fine = NodeReading("ns=2;s=X", 5.0, "Double", "Good", 0, now - timedelta(seconds=1), now, now, (0, 10))
    assert judge_reading(fine, 60)[0] is Verdict.OK
    outside = NodeReading("ns=2;s=X", 50.0, "Double", "Good", 0, now, now, now, (0, 10))
    assert "outside its EURange [0, 10]" in judge_reading(outside, 60)[1]
