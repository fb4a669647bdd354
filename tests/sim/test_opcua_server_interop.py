"""The simulated PLC meets an independent OPC UA stack: node-opcua's client (Node.js).

Needs `node` and the npm package node-opcua-client, in the repository's node_modules (a devDependency
of package.json) or on NODE_PATH; skipped when either is missing.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from sim.facade import SimulatedPlc

ROOT = Path(__file__).resolve().parents[2]
NODE_ENV = {**os.environ, "NODE_PATH": os.pathsep.join(
    p for p in (os.environ.get("NODE_PATH", ""), str(ROOT / "node_modules")) if p)}


def _node_opcua_available() -> bool:
    if shutil.which("node") is None:
        return False
    probe = subprocess.run(["node", "-e", "require.resolve('node-opcua-client')"], capture_output=True,
                           timeout=30, check=False, env=NODE_ENV)
    return probe.returncode == 0


pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not _node_opcua_available() and not os.environ.get("CI"),
                       reason="node or node-opcua-client missing (npm ci); required under CI"),
]

PROBE = r"""
const { OPCUAClient, AttributeIds, DataType } = require("node-opcua-client");
(async () => {
  const [endpoint, idsJson] = process.argv.slice(2);
  const ids = JSON.parse(idsJson);
  const client = OPCUAClient.create({ endpointMustExist: false, connectionStrategy: { maxRetry: 0 } });
  await client.connect(endpoint);
  const session = await client.createSession();
  const reads = await session.read(ids.map((nodeId) => ({ nodeId, attributeId: AttributeIds.Value })));
  const range = await session.read({ nodeId: ids[0] + ".EURange", attributeId: AttributeIds.Value });
  const float = (nodeId, value) => ({ nodeId, attributeId: AttributeIds.Value,
                                      value: { value: { dataType: DataType.Float, value } } });
  const writes = await session.write([float("ns=2;s=Plant.P201.SP", 44.5), float("ns=2;s=Plant.P202.SP", 101),
    { nodeId: "ns=2;s=Plant.Supervisor.Heartbeat", attributeId: AttributeIds.Value,
      value: { value: { dataType: DataType.UInt16, value: 321 } } }]);
  await session.close();
  await client.disconnect();
  console.log("RESULT " + JSON.stringify({
    values: reads.map((dv) => ({ value: dv.value.value, type: DataType[dv.value.dataType],
                                 status: dv.statusCode.name })),
    eurange: [range.value.value.low, range.value.value.high],
    writes: writes.map((s) => s.name),
  }));
})().catch((e) => { console.error(String(e)); process.exit(1); });
"""


def f32(value: float) -> float:
    rounded: float = struct.unpack(">f", struct.pack(">f", value))[0]
    return rounded


async def test_node_opcua_reads_values_status_and_range_and_gets_per_node_write_results(
        plc: SimulatedPlc, tmp_path: Path) -> None:
    script = tmp_path / "probe.js"
    script.write_text(PROBE, encoding="utf-8")
    await plc.advance(1.0)
    plc.model.sensors["CIT-101"].fail()  # type: ignore[attr-defined]
    await plc.advance(1.0)
    ids = ["ns=2;s=Plant.T101.AIT-101", "ns=2;s=Plant.T101.CIT-101", "ns=2;s=Plant.P201.RUNNING"]
    try:
        proc = await asyncio.create_subprocess_exec(
            "node", str(script), plc.opcua_endpoint, json.dumps(ids),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**NODE_ENV, "XDG_CONFIG_HOME": str(tmp_path)})  # node-opcua puts its own PKI there
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    finally:
        plc.model.sensors["CIT-101"].recover()  # type: ignore[attr-defined]
    assert proc.returncode == 0, err.decode()
    result = [line for line in out.decode().splitlines() if line.startswith("RESULT ")]
    assert result, out.decode()
    got = json.loads(result[-1].removeprefix("RESULT "))
    ph, cond, running = got["values"]
    assert ph == {"value": f32(plc.model.readings()["AIT-101"].value), "type": "Float", "status": "Good"}
    assert cond["status"] == "BadSensorFailure"
    assert running == {"value": plc.model.readings()["P-201.RUNNING"].value == 1.0, "type": "Boolean",
                       "status": "Good"}
    assert got["eurange"] == [0, 14]
    assert got["writes"] == ["Good", "BadOutOfRange", "Good"]
    assert plc.model.commanded()["P-201.SP"] == 44.5
    assert plc.watchdog.value == 321
    await plc.advance(1.0)
