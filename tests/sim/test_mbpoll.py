"""The simulated PLC meets an independent Modbus implementation: Debian's mbpoll (libmodbus).

CI installs it with `apt-get install -y mbpoll`; only when it is absent is this module skipped.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import shutil
import struct

import pytest

from sim.facade import SimulatedPlc

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(shutil.which("mbpoll") is None and not os.environ.get("CI"),
                       reason="mbpoll not installed (apt-get install mbpoll); required under CI"),
]

FLOATS = ["FIT-100", "AIT-100", "AIT-101", "CIT-101", "LIT-101", "TIT-101", "AIT-301", "P-201.SPEED", "P-202.SPEED",
          "AIT-104", "AIT-105", "AIT-302", "FIT-201", "FIT-202", "P-401.SPEED", "P-402.SPEED", "AIT-401", "AIT-402",
          "AIT-403", "AIT-410", "FIT-401", "FIT-402", "FIT-410", "XV-410.POS", "LIT-501", "P-501.SPEED", "FIT-501",
          "AIT-300", "FQ-410"]
_LINE = re.compile(r"^\[(\d+)\]:\s+(\S+)")


async def mbpoll(plc: SimulatedPlc, *args: str) -> tuple[int, str]:
    """Run mbpoll once against the PLC (zero-based PDU addresses, ABCD word order)."""
    proc = await asyncio.create_subprocess_exec(
        "mbpoll", "-m", "tcp", "-a", "1", "-p", str(plc.modbus_port), "-0", "-1", "-o", "2", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=20)
    return proc.returncode or 0, out.decode()


def values(output: str) -> dict[int, str]:
    return {int(m.group(1)): m.group(2) for line in output.splitlines() if (m := _LINE.match(line.strip()))}


def f32(value: float) -> float:
    rounded: float = struct.unpack(">f", struct.pack(">f", value))[0]
    return rounded


async def test_mbpoll_reads_the_documented_map(plc: SimulatedPlc) -> None:
    await plc.advance(1.0)
    readings = plc.model.readings()
    rc, out = await mbpoll(plc, "-t", "3:float", "-B", "-r", "0", "-c", "29", plc.modbus_host)
    assert rc == 0, out
    got = values(out)
    for i, name in enumerate(FLOATS):
        assert float(got[2 * i]) == pytest.approx(f32(readings[name].value), rel=1e-5), (name, out)
    rc, out = await mbpoll(plc, "-t", "3", "-r", "100", "-c", "29", plc.modbus_host)
    assert rc == 0, out
    assert set(values(out)) == set(range(100, 129))
    rc, out = await mbpoll(plc, "-t", "1", "-r", "0", "-c", "10", plc.modbus_host)
    assert rc == 0, out
    assert values(out)[4] == str(int(readings["WATCHDOG.TRIPPED"].value))


async def test_mbpoll_writes_a_setpoint_and_is_refused_out_of_range(plc: SimulatedPlc) -> None:
    rc, out = await mbpoll(plc, "-t", "4:float", "-B", "-r", "2", plc.modbus_host, "12.5")
    assert rc == 0, out
    assert plc.model.commanded()["P-202.SP"] == 12.5
    rc, out = await mbpoll(plc, "-t", "4:float", "-B", "-r", "2", plc.modbus_host, "120")
    assert rc != 0 and "Illegal data value" in out, out
    assert plc.model.commanded()["P-202.SP"] == 12.5
    rc, out = await mbpoll(plc, "-t", "3", "-r", "58", "-c", "1", plc.modbus_host)  # past the map
    assert rc != 0 and "Illegal data address" in out, out
    assert not math.isnan(plc.model.commanded()["P-202.SP"])
