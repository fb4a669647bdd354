"""Acquisition benchmark: Modbus values/s of the project's source against a bare pymodbus client
(the ceiling, same server, same run) and against one request per tag, and the client CPU of an
OPC UA subscription of 10,000 monitored items at 1 s sampling.

The Modbus source polls 10,000 float32 tags (160 reads of 125 registers) on its 10 ms minimum
scan period, so a scan runs back to back with at most one grid step of waiting; the bare client
reads the same blocks back to back and decodes each with one numpy step.

Each server runs in its own process (this script re-invoked with --serve-…), so the figures are the
client side only. Prints figures as it goes; the last line of stdout is one JSON object.
`--quick` keeps the whole run under a minute (Modbus: bare and source alternating in 2 rounds of 2 s,
the naive plan 4 s; OPC UA sustained 20 s). The
OPC UA server builds its 5,000 nodes in the background while the Modbus half runs.

    .venv/bin/python bench/acquisition.py [--quick] [--skip-opcua]
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.modbus.config import ModbusSourceConfig
from connectors.modbus.source import ModbusSource
from connectors.opcua.config import OpcUaSourceConfig
from connectors.opcua.source import OpcUaSource
from plantctl.config.models import TagConfig
from plantctl.plantfile import tag_config
from plantctl.samples import Sample
from plantctl.serve import freeze_assembly, run_event_loop

MODBUS_TAGS = 10_000  # float32 input registers 0..19999 of one simulated PLC
NAIVE_TAGS = 1000  # one request per tag is request-bound: its rate does not depend on the tag count
OPCUA_ITEMS = 10_000
OPCUA_FOLDER = 100  # asyncua's address-space build is quadratic in the children of one parent
NS = "urn:plantctl:bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- servers (child processes) ----------------------------------------------------------------


async def serve_modbus(port: int) -> None:
    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    dev = SimDevice(
        id=1,
        simdata=(
            [SimData(0, count=16, values=False, datatype=DataType.BITS)],
            [SimData(0, count=16, values=False, datatype=DataType.BITS)],
            [SimData(0, count=16, values=0, datatype=DataType.REGISTERS)],
            # count repeats the whole values list: MODBUS_TAGS × (the two words of float32 123.456)
            [SimData(0, count=MODBUS_TAGS, values=[0x42F6, 0xE979], datatype=DataType.REGISTERS)],
        ),
    )
    server = ModbusTcpServer(dev, address=("127.0.0.1", port))
    await server.serve_forever()


async def standard_address_space(server: Any) -> None:
    """Load the standard address space from a shelf (0.2 s) instead of building it (3-4 s).

    asyncua reuses a shelf only when a file exists at the bare path, while dbm.dumb writes
    .dat/.dir/.bak beside it: build it once under a private name, move it in, leave a marker.
    """
    shelf = Path(tempfile.gettempdir()) / f"plantctl-bench-opcua-shelf-{os.getuid()}"
    if shelf.is_file():
        await server.init(shelf_file=shelf)
        return
    private = shelf.with_name(f"{shelf.name}.{os.getpid()}")
    await server.init(shelf_file=private)
    for suffix in (".dat", ".dir", ".bak"):
        if Path(f"{private}{suffix}").exists():  # noqa: ASYNC240
            os.replace(f"{private}{suffix}", f"{shelf}{suffix}")
    shelf.touch()


async def serve_opcua(port: int, items: int) -> None:
    import logging

    from asyncua import Server, ua

    logging.getLogger("asyncua").setLevel(logging.ERROR)
    server = Server()
    await standard_address_space(server)
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/bench")
    idx = await server.register_namespace(NS)
    root = await server.nodes.objects.add_object(idx, "Bench")
    folders = [
        (await root.add_folder(idx, f"F{f:03d}")).nodeid for f in range((items + OPCUA_FOLDER - 1) // OPCUA_FOLDER)
    ]
    ids = [ua.NodeId(f"V{i}", idx) for i in range(items)]
    requests = []
    for i, nid in enumerate(ids):  # one AddNodes call for all items (add_variable costs a round trip each)
        item = ua.AddNodesItem()
        item.RequestedNewNodeId = nid
        item.BrowseName = ua.QualifiedName(nid.Identifier, idx)
        item.NodeClass = ua.NodeClass.Variable
        item.ParentNodeId = folders[i // OPCUA_FOLDER]
        item.ReferenceTypeId = ua.NodeId(ua.ObjectIds.HasComponent)
        item.TypeDefinition = ua.NodeId(ua.ObjectIds.BaseDataVariableType)
        attrs = ua.VariableAttributes()
        attrs.DisplayName = ua.LocalizedText(nid.Identifier)
        attrs.DataType = ua.NodeId(ua.ObjectIds.Double)
        attrs.Value = ua.Variant(0.0, ua.VariantType.Double)
        attrs.ValueRank = ua.ValueRank.Scalar
        attrs.AccessLevel = attrs.UserAccessLevel = ua.AccessLevel.CurrentRead.mask
        item.NodeAttributes = attrs
        requests.append(item)
    built = time.monotonic()
    for result in await server.iserver.isession.add_nodes(requests):
        result.StatusCode.check()
    await server.start()
    print(f"ready {time.monotonic() - built:.2f}", flush=True)
    tick = 0
    while True:  # every value changes once a second, so every item notifies once a second
        started = time.monotonic()
        tick += 1
        for i, nid in enumerate(ids):
            await server.write_attribute_value(nid, ua.DataValue(ua.Variant(float(tick + i), ua.VariantType.Double)))
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))


def child(*args: str, announce: bool = False) -> subprocess.Popen[str]:
    """This script as a server process; only the OPC UA one says "ready" on its stdout."""
    out = subprocess.PIPE if announce else subprocess.DEVNULL
    return subprocess.Popen([sys.executable, __file__, *args], stdout=out, stderr=subprocess.DEVNULL, text=True)


def wait_for_port(port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"benchmark server on port {port} did not start within {timeout_s:g} s")


# --- Modbus ---------------------------------------------------------------------------------


def modbus_tags(count: int) -> list[TagConfig]:
    return [
        tag_config(
            {
                "name": f"FT-{i:04d}",
                "unit": "m3/h",
                "range": {"low": 0, "high": 1000},
                "source": "BENCH-MB",
                "scan_period_s": 0.01,
                "modbus": {"table": "input_register", "address": 2 * i, "type": "float32"},
            }
        )
        for i in range(count)
    ]


async def modbus_rate(port: int, seconds: float, naive: bool) -> tuple[float, int, float]:
    """Good values per second with the source polling flat out (scan period 10 ms < one scan),
    the requests per scan, and the client's CPU µs per value.

    Measured between whole scans (first and last batch in the window), so a slow naive scan of
    1,000 requests is not cut in half by the window's edges.
    """
    limits = {"max_read_registers": 2, "gap_fill_registers": 0} if naive else {}
    cfg = ModbusSourceConfig.model_validate(
        {"kind": "modbus", "name": "BENCH-MB", "host": "127.0.0.1", "port": port, "timeout_s": 2.0, **limits}
    )
    batches: list[tuple[float, int]] = []

    def emit(batch: list[Sample]) -> None:
        batches.append((time.monotonic(), sum(1 for s in batch if s.quality.is_good)))

    source = ModbusSource(cfg, modbus_tags(NAIVE_TAGS if naive else MODBUS_TAGS), emit)
    freeze_assembly()  # as `plantctl run` does once assembled: the collector stops re-scanning the tag configs
    await source.start()
    try:
        deadline = time.monotonic() + 10
        while not batches and time.monotonic() < deadline:  # noqa: ASYNC110 - a benchmark's wait
            await asyncio.sleep(0.05)
        first = len(batches) - 1
        cpu0 = time.process_time()
        await asyncio.sleep(seconds)
        while len(batches) - first < 3 and time.monotonic() < deadline + seconds + 10:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        cpu = time.process_time() - cpu0
    finally:
        await source.stop()
    window = batches[first:]
    values = sum(n for _, n in window[1:])
    return values / (window[-1][0] - window[0][0]), source.health().request_plan_size, 1e6 * cpu / max(values, 1)


async def bare_rate(port: int, seconds: float) -> tuple[float, float]:
    """The ceiling: a bare pymodbus client reading the same 125-register blocks back to back,
    each decoded with one numpy step (no quality, deadband or sample objects); values/s and CPU µs per value."""
    import numpy as np
    from pymodbus.client import AsyncModbusTcpClient

    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2.0, retries=0, reconnect_delay=0)
    if not await client.connect():
        raise SystemExit(f"bare client cannot connect to port {port}")
    blocks = [(a, min(124, 2 * MODBUS_TAGS - a)) for a in range(0, 2 * MODBUS_TAGS, 124)]
    values = 0
    try:
        started, cpu0 = time.monotonic(), time.process_time()
        while time.monotonic() - started < seconds:
            for address, count in blocks:
                reply = await client.read_input_registers(address, count=count, device_id=1)
                decoded = np.asarray(reply.registers, dtype=">u2").view(">f4")
                values += int(np.isfinite(decoded).sum())
        wall, cpu = time.monotonic() - started, time.process_time() - cpu0
    finally:
        client.close()
    return values / wall, 1e6 * cpu / max(values, 1)


# --- OPC UA ---------------------------------------------------------------------------------


async def opcua_cpu(port: int, items: int, seconds: float) -> dict[str, Any]:
    cfg = OpcUaSourceConfig.model_validate(
        {"kind": "opcua", "name": "BENCH-UA", "connect_timeout_s": 30, "endpoint": f"opc.tcp://127.0.0.1:{port}/bench"}
    )
    tags = [
        tag_config(
            {
                "name": f"V{i}",
                "unit": "1",
                "range": {"low": 0, "high": 1e9},
                "source": "BENCH-UA",
                "scan_period_s": 1.0,
                "opcua": {"node_id": f"ns=2;s=V{i}", "queue_size": 1},
            }
        )
        for i in range(items)
    ]
    seen: set[str] = set()
    count = 0

    def emit(batch: list[Sample]) -> None:
        nonlocal count
        for s in batch:
            if s.quality.is_good:
                seen.add(s.tag)
                count += 1

    source = OpcUaSource(cfg, tags, emit)
    await source.start()
    try:
        deadline = time.monotonic() + 40
        while len(seen) < items and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)
        cpu0, wall0, count0 = time.process_time(), time.monotonic(), count
        await asyncio.sleep(seconds)
        cpu = time.process_time() - cpu0
        wall = time.monotonic() - wall0
        rate = (count - count0) / wall
    finally:
        await source.stop()
    return {
        "opcua_items": len(seen),
        "opcua_cpu_fraction": round(cpu / wall, 3),
        "opcua_notifications_per_s": round(rate),
        "opcua_sustained_s": round(wall, 1),
    }


# --- main -----------------------------------------------------------------------------------


async def run(quick: bool, skip_opcua: bool) -> dict[str, Any]:
    result: dict[str, Any] = {"quick": quick, "modbus_tags": MODBUS_TAGS, "load_avg_1m": os.getloadavg()[0],
                              "event_loop": type(asyncio.get_running_loop()).__module__.split(".")[0]}
    # the OPC UA server (5,000 nodes) takes a while to build: start it first, in its own process
    ua_port = free_port()
    ua_server = None if skip_opcua else child("--serve-opcua", str(ua_port), str(OPCUA_ITEMS), announce=True)
    try:
        port = free_port()
        server = child("--serve-modbus", str(port))
        try:
            wait_for_port(port, 10)
            # bare and source alternate in rounds, so both see the same machine load (it moves by the second
            # on a shared machine); the figures are the means over the rounds
            rounds, seconds = (2, 2.0) if quick else (3, 5.0)
            bares: list[float] = []
            bare_us: list[float] = []
            planneds: list[float] = []
            us_per_values: list[float] = []
            for r in range(rounds):
                bare_r, bare_us_r = await bare_rate(port, seconds)
                bares.append(bare_r)
                bare_us.append(bare_us_r)
                planned_r, plan_size, us_r = await modbus_rate(port, seconds, naive=False)
                planneds.append(planned_r)
                us_per_values.append(us_r)
                print(f"modbus round {r + 1}: bare {bare_r:,.0f} values/s (pymodbus + numpy, back to back, "
                      f"{bare_us_r:.2f} µs CPU per value), "
                      f"source {planned_r:,.0f} values/s ({plan_size} requests per scan, {us_r:.2f} µs CPU per value), "
                      f"load {os.getloadavg()[0]:.1f}", flush=True)
            bare, planned = sum(bares) / rounds, sum(planneds) / rounds
            us_per_value = sum(us_per_values) / rounds
            seconds *= rounds
            naive, naive_size, _ = await modbus_rate(port, seconds, naive=True)
            print(f"modbus naive:   {naive:,.0f} values/s ({naive_size} requests per scan)", flush=True)
        finally:
            server.terminate()
            server.wait()
        result.update(
            {
                "modbus_values_per_s": round(planned),
                "modbus_values_per_s_bare": round(bare),
                "modbus_vs_bare": round(planned / bare, 2) if bare else None,
                "modbus_vs_bare_rounds": [round(p / b, 2) for p, b in zip(planneds, bares, strict=True)],
                "modbus_cpu_us_per_value": round(us_per_value, 2),
                "modbus_cpu_us_per_value_bare": round(sum(bare_us) / rounds, 2),
                "modbus_values_per_s_naive": round(naive),
                "modbus_planner_vs_naive": round(planned / naive, 1) if naive else None,
                "modbus_requests_per_scan": plan_size,
                "modbus_requests_per_scan_naive": naive_size,
            }
        )
        if ua_server is None:
            return result
        assert ua_server.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(ua_server.stdout.readline), 120)
        if not line.startswith("ready"):
            raise SystemExit("OPC UA benchmark server did not start")
        result["opcua_server_build_s"] = float(line.split()[1])
        figures = await opcua_cpu(ua_port, OPCUA_ITEMS, 20.0 if quick else 60.0)
        print(f"opcua: {figures}", flush=True)
        result.update(figures)
    finally:
        if ua_server is not None:
            ua_server.terminate()
            ua_server.wait()
    return result


def main() -> None:
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="whole run under a minute")
    parser.add_argument("--skip-opcua", action="store_true", help="Modbus half only")
    parser.add_argument("--serve-modbus", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-opcua", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_modbus:
        asyncio.run(serve_modbus(args.serve_modbus))
        return
    if args.serve_opcua:
        asyncio.run(serve_opcua(*args.serve_opcua))
        return
    import logging

    logging.basicConfig(level=logging.ERROR)
    started = time.monotonic()
    # the event loop `plantctl run` uses (uvloop when installed): the source and the bare client alike
    result = run_event_loop(run(args.quick, args.skip_opcua))
    result["duration_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
