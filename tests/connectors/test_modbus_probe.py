"""`plantctl probe modbus` against a real pymodbus server: every decoding shown, the ones in the tag's range marked."""

from __future__ import annotations

import asyncio
import struct
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from plantctl.cli import app
from tests.connectors.modbus_server import FC_HOLDING, FC_INPUT, device, modbus_server

pytestmark = pytest.mark.anyio

PLANT = """\
plant: {name: t}
sources:
  - {name: MB, kind: modbus, host: 127.0.0.1, port: %d}
tags:
  - name: COD-101
    unit: mg/L
    range: {low: 0, high: 1500}
    source: MB
    modbus: {table: input_register, address: 10, type: float32}
"""


async def probe(*args: str) -> Result:
    """Run the command as a shell would (it runs its own event loop, so off this one)."""
    return await asyncio.to_thread(CliRunner().invoke, app, ["probe", "modbus", *args])


async def test_probe_marks_the_decoding_that_fits_the_tag_range(tmp_path: Path) -> None:
    hi, lo = struct.unpack(">HH", struct.pack(">f", 812.5))
    async with modbus_server(device(1)) as server:
        await server.set(1, FC_INPUT, 10, [lo, hi])  # the device keeps the words swapped (CDAB)
        plant = tmp_path / "plant.yaml"
        plant.write_text(PLANT % server.port)
        result = await probe(f"127.0.0.1:{server.port}", "--table", "input", "--address", "10",
                             "--tag", "COD-101", "--config", str(plant))
    assert result.exit_code == 0, result.output
    rows = {tuple(line.split()[:2]): line for line in result.output.splitlines() if line.startswith("  ")}
    assert "812.5" in rows[("float32", "CDAB")] and "✓ in range" in rows[("float32", "CDAB")]
    assert "✓ in range" not in rows[("float32", "ABCD")] and "← configured" in rows[("float32", "ABCD")]
    assert len(rows) == 6 * 4, "int16/uint16/int32/uint32/float32/float64 × four orders"


async def test_scan_lists_the_answering_addresses_and_is_bounded() -> None:
    async with modbus_server(device(1, registers=30)) as server:
        await server.set(1, FC_HOLDING, 0, [1])
        started = time.monotonic()
        result = await probe(f"127.0.0.1:{server.port}", "--scan", "20-39", "--rate", "50")
        took = time.monotonic() - started
        too_many = await probe(f"127.0.0.1:{server.port}", "--scan", "0-5000")
    assert result.exit_code == 0, result.output
    assert "answering in 20–39: 20–29" in result.output
    assert took >= 20 / 50, "rate-limited"
    assert too_many.exit_code != 0 and "at most 2000 addresses" in too_many.output
