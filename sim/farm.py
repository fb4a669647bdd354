"""`plantctl sim --farm N --tags M`: N simulated PLCs of M process tags each, the load for the scale tests.

Each PLC is its own OPC UA or Modbus TCP server on its own loopback port; all of them run in a few worker
processes (one event loop each), and a plant file that reads every tag is written beside them. The tags
are synthetic instruments (flow, level, temperature, pH, conductivity, pressure) whose values follow a
first-order lag toward a setpoint that steps now and then, plus measurement noise, advanced for all tags
of a PLC at once with numpy once a second. docs/scaling.md says what the farm costs and how to use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from asyncua import ua as _ua
from asyncua.server.server import Server

log = logging.getLogger("plantctl.sim.farm")
ua: Any = _ua  # asyncua's generated types are loosely annotated

NAMESPACE = "urn:plantctl:sim:farm"
OPCUA_FOLDER = 100  # asyncua's address-space build is quadratic in the children of one parent
TICK_S = 1.0  # every tag gets a new value once a second


class FarmProtocol(StrEnum):
    """Which servers the farm's PLCs are: all Modbus, all OPC UA, or alternating (half each)."""

    MODBUS = "modbus"
    OPCUA = "opcua"
    MIXED = "mixed"


@dataclass(frozen=True, slots=True)
class Instrument:
    """One kind of synthetic process instrument: its tag prefix, unit, range and dynamics."""

    prefix: str
    unit: str
    low: float
    high: float
    nominal: float
    spread: float  # setpoint steps land within nominal ± spread
    noise: float  # standard deviation of the measurement noise, engineering units
    tau_s: float  # first-order time constant toward the setpoint


INSTRUMENTS: tuple[Instrument, ...] = (
    Instrument("FIT", "m3/h", 0.0, 50.0, 12.0, 6.0, 0.15, 20.0),
    Instrument("LIT", "%", 0.0, 100.0, 55.0, 20.0, 0.3, 120.0),
    Instrument("TIT", "degC", 0.0, 60.0, 22.0, 4.0, 0.05, 300.0),
    Instrument("AIT", "pH", 0.0, 14.0, 7.0, 1.0, 0.01, 60.0),
    Instrument("CIT", "mS/cm", 0.0, 200.0, 45.0, 15.0, 0.2, 90.0),
    Instrument("PIT", "bar", 0.0, 10.0, 3.5, 1.0, 0.02, 10.0),
)


@dataclass(frozen=True, slots=True)
class FarmPlc:
    """One simulated PLC of the farm: its name, protocol, port and the number of tags it serves."""

    index: int
    protocol: FarmProtocol  # MODBUS or OPCUA
    port: int
    tags: int
    host: str = "127.0.0.1"

    @property
    def name(self) -> str:
        return f"PLC-{self.index + 1:02d}"

    @property
    def source(self) -> str:
        return f"{self.name}-{'MODBUS' if self.protocol is FarmProtocol.MODBUS else 'OPCUA'}"

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://{self.host}:{self.port}/plantctl/farm"

    def instrument(self, i: int) -> Instrument:
        return INSTRUMENTS[i % len(INSTRUMENTS)]

    def tag_name(self, i: int) -> str:
        """Plant-style names, unique across the farm: PLC-03.FIT-0012."""
        return f"{self.name}.{self.instrument(i).prefix}-{i:04d}"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def plan_farm(plcs: int, tags: int, protocol: FarmProtocol = FarmProtocol.MIXED, *, base_port: int = 0,
              host: str = "127.0.0.1") -> list[FarmPlc]:
    """The farm's PLCs; base_port 0 picks free ports, else PLC i listens on base_port + i."""
    if plcs < 1 or tags < 1:
        raise ValueError("a farm needs at least one PLC of at least one tag")
    if tags > 60_000:
        raise ValueError(f"{tags} tags per PLC do not fit in one Modbus input-register table (at most 60,000)")
    out = []
    for i in range(plcs):
        kind = protocol if protocol is not FarmProtocol.MIXED else (
            FarmProtocol.MODBUS if i % 2 == 0 else FarmProtocol.OPCUA)
        port = base_port + i if base_port else free_port(host)
        out.append(FarmPlc(i, kind, port, tags, host))
    return out


# --- the plant file -------------------------------------------------------------------------


def plant_document(farm: Sequence[FarmPlc], *, alarm_share: float = 0.2, scan_period_s: float = 1.0) -> dict[str, Any]:
    """A plant file reading every tag of the farm; `alarm_share` of the tags carry a high alarm."""
    sources: list[dict[str, Any]] = []
    tags: list[dict[str, Any]] = []
    alarms: list[dict[str, Any]] = []
    every = round(1 / alarm_share) if alarm_share > 0 else 0
    for plc in farm:
        if plc.protocol is FarmProtocol.MODBUS:
            sources.append({"name": plc.source, "kind": "modbus", "host": plc.host, "port": plc.port, "unit_id": 1,
                            "byte_order": "ABCD", "reconnect_max_delay_s": 5})
        else:
            sources.append({"name": plc.source, "kind": "opcua", "endpoint": plc.endpoint,
                            "security": {"mode": "None", "policy": "None"}, "reconnect_max_delay_s": 5,
                            "connect_timeout_s": 30})
        for i in range(plc.tags):
            inst = plc.instrument(i)
            name = plc.tag_name(i)
            tag: dict[str, Any] = {"name": name, "unit": inst.unit, "range": {"low": inst.low, "high": inst.high},
                                   "source": plc.source, "scan_period_s": scan_period_s}
            if plc.protocol is FarmProtocol.MODBUS:
                tag["modbus"] = {"table": "input_register", "address": 2 * i, "type": "float32"}
            else:
                tag["opcua"] = {"node_id": f"nsu={NAMESPACE};s={name}"}
            tags.append(tag)
            if every and (len(tags) - 1) % every == 0:
                limit = round(min(inst.high, inst.nominal + inst.spread + 6 * inst.noise), 3)
                alarms.append({"name": f"{name}.H", "tag": name, "type": "H", "limit": limit, "priority": 3,
                               "deadband": round(2 * inst.noise, 3), "on_delay_s": 5})
    return {
        "plant": {"name": f"Simulated PLC farm ({len(farm)} PLCs, {len(tags)} tags)", "site": "farm",
                  "description": "generated by plantctl sim --farm; synthetic instruments, no process model"},
        "historian": {"batch_max_rows": 5000, "batch_max_age_s": 1.0},
        "sources": sources,
        "tags": tags,
        "alarms": alarms,
    }


def write_plant_file(path: Path, farm: Sequence[FarmPlc], *, alarm_share: float = 0.2) -> None:
    header = "# Generated by `plantctl sim --farm`: the plant file that reads every tag of the simulated farm.\n"
    body = yaml.safe_dump(plant_document(farm, alarm_share=alarm_share), sort_keys=False, width=120)
    path.write_text(header + body, encoding="utf-8")


# --- process values ---------------------------------------------------------------------------


class ProcessSignals:
    """All tags of one PLC as arrays: a first-order lag toward setpoints that step, plus noise."""

    def __init__(self, plc: FarmPlc, seed: int) -> None:
        insts = [plc.instrument(i) for i in range(plc.tags)]
        self.low = np.array([x.low for x in insts])
        self.high = np.array([x.high for x in insts])
        self.nominal = np.array([x.nominal for x in insts])
        self.spread = np.array([x.spread for x in insts])
        self.noise = np.array([x.noise for x in insts])
        self.tau = np.array([x.tau_s for x in insts])
        self.rng = np.random.default_rng(seed)
        self.target = self.nominal + self.spread * self.rng.uniform(-1, 1, plc.tags)
        self.state = self.target.copy()

    def step(self, dt_s: float) -> np.ndarray:
        """Advance dt_s; about one setpoint in 300 steps each second. Returns the measured values."""
        moving = self.rng.random(self.state.size) < dt_s / 300
        self.target[moving] = self.nominal[moving] + self.spread[moving] * self.rng.uniform(-1, 1, int(moving.sum()))
        self.state += (self.target - self.state) * (1 - np.exp(-dt_s / self.tau))
        measured = self.state + self.noise * self.rng.standard_normal(self.state.size)
        return np.clip(measured, self.low, self.high)


# --- servers ----------------------------------------------------------------------------------


class ModbusFarmPlc:
    """A Modbus TCP device whose input registers 2i, 2i+1 hold tag i as float32 (ABCD)."""

    def __init__(self, plc: FarmPlc, signals: ProcessSignals) -> None:
        self.plc = plc
        self.signals = signals
        self.words = self._encode(signals.step(0.0))
        self.server: Any = None

    @staticmethod
    def _encode(values: np.ndarray) -> list[int]:
        return values.astype(">f4").view(">u2").astype(np.int64).tolist()  # type: ignore[no-any-return]

    def tick(self, dt_s: float) -> None:
        self.words = self._encode(self.signals.step(dt_s))

    async def _action(self, fc: int, start: int, address: int, count: int, registers: list[int],
                      set_values: list[int] | list[bool] | None) -> Any:
        """Reads of input registers are served from the newest values; the farm's PLCs take no writes."""
        from pymodbus.constants import ExcCodes

        if set_values is not None:
            return ExcCodes.ILLEGAL_ADDRESS
        if fc == 4:
            registers[address - start: address - start + count] = self.words[address: address + count]
        return None

    async def start(self) -> None:
        from pymodbus.server import ModbusTcpServer
        from pymodbus.simulator import DataType, SimData, SimDevice

        words = 2 * self.plc.tags
        device = SimDevice(id=1, action=self._action, simdata=(
            [SimData(0, count=16, values=False, datatype=DataType.BITS)],
            [SimData(0, count=16, values=False, datatype=DataType.BITS)],
            [SimData(0, count=1, values=0, datatype=DataType.REGISTERS)],
            [SimData(0, count=words, values=0, datatype=DataType.REGISTERS)],
        ))
        self.server = ModbusTcpServer(device, address=(self.plc.host, self.plc.port))
        await self.server.serve_forever(background=True)

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.shutdown()


class OpcUaFarmPlc:
    """An OPC UA server with one Double variable per tag (folders of 100), all written once a second."""

    def __init__(self, plc: FarmPlc, signals: ProcessSignals, shelf: Path) -> None:
        self.plc = plc
        self.signals = signals
        self.shelf = shelf
        self.server: Any = None
        self.node_ids: list[Any] = []

    async def start(self) -> None:
        server = Server()
        await init_from_shelf(server, self.shelf)
        server.set_endpoint(self.plc.endpoint)
        server.set_server_name(f"plantctl farm {self.plc.name}")
        idx = await server.register_namespace(NAMESPACE)
        root = await server.nodes.objects.add_object(idx, self.plc.name)
        folders = [(await root.add_folder(idx, f"F{f:03d}")).nodeid
                   for f in range((self.plc.tags + OPCUA_FOLDER - 1) // OPCUA_FOLDER)]
        values = self.signals.step(0.0)
        requests = []
        for i in range(self.plc.tags):  # one AddNodes call for the whole address space
            nid = ua.NodeId(self.plc.tag_name(i), idx)
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
            attrs.Value = ua.Variant(float(values[i]), ua.VariantType.Double)
            attrs.ValueRank = ua.ValueRank.Scalar
            attrs.AccessLevel = attrs.UserAccessLevel = ua.AccessLevel.CurrentRead.mask
            item.NodeAttributes = attrs
            requests.append(item)
            self.node_ids.append(nid)
        for result in await server.iserver.isession.add_nodes(requests):
            result.StatusCode.check()
        await server.start()
        self.server = server

    async def tick(self, dt_s: float) -> None:
        now = datetime.now(UTC)
        write = self.server.write_attribute_value
        for k, (nid, value) in enumerate(zip(self.node_ids, self.signals.step(dt_s).tolist(), strict=True)):
            await write(nid, ua.DataValue(ua.Variant(value, ua.VariantType.Double), SourceTimestamp=now,
                                          ServerTimestamp=now))
            if k % 100 == 99:
                await asyncio.sleep(0)  # let the other PLCs of this worker answer their clients meanwhile

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()


def farm_shelf(state_dir: Path | None = None) -> Path:
    """Where the farm caches the OPC UA standard address space, per asyncua version."""
    from importlib.metadata import version

    from plantctl.paths import cache_dir

    return (state_dir or cache_dir() / "sim") / f"farm-address-space-asyncua-{version('asyncua')}"


async def init_from_shelf(server: Any, shelf: Path) -> None:
    """The standard address space from a shelf (0.2 s) instead of built (2-4 s); built once, then published."""
    if shelf.exists():  # noqa: ASYNC240 - once at start-up
        await server.init(shelf_file=shelf)
        return
    shelf.parent.mkdir(parents=True, exist_ok=True)
    tmp = shelf.with_name(f"{shelf.name}.tmp-{os.getpid()}-{id(server)}")
    await server.init(shelf_file=tmp)
    for suffix in (".dat", ".dir", ".bak", ".db"):  # dbm.dumb writes parts; the bare name is the marker
        part = tmp.with_name(tmp.name + suffix)
        if part.exists():
            part.replace(shelf.with_name(shelf.name + suffix))
    if tmp.exists():
        tmp.replace(shelf)
    else:
        shelf.touch()  # noqa: ASYNC240


# --- worker processes -------------------------------------------------------------------------


async def serve_group(plcs: Sequence[FarmPlc], shelf: Path, seed: int, ready: Callable[[str], None],
                      stop: asyncio.Event) -> None:
    """Run some PLCs in this event loop until `stop`; say "ready <seconds>" (or "failed <why>") once."""
    started = time.monotonic()
    servers: list[ModbusFarmPlc | OpcUaFarmPlc] = []
    try:
        for plc in plcs:
            signals = ProcessSignals(plc, seed + plc.index)
            servers.append(ModbusFarmPlc(plc, signals) if plc.protocol is FarmProtocol.MODBUS else
                           OpcUaFarmPlc(plc, signals, shelf))
        await servers[0].start()  # the first builds the OPC UA shelf if there is none yet; the rest at once
        await asyncio.gather(*(srv.start() for srv in servers[1:]))
    except (OSError, RuntimeError, ValueError) as exc:
        ready(f"failed {type(exc).__name__}: {exc}")
        for srv in servers:
            await srv.stop()
        return
    ready(f"ready {time.monotonic() - started:.2f}")
    last = time.monotonic()
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, last + TICK_S - time.monotonic()))
            now = time.monotonic()
            dt, last = now - last, now
            for srv in servers:
                if isinstance(srv, ModbusFarmPlc):
                    srv.tick(dt)
                else:
                    await srv.tick(dt)
    finally:
        for srv in servers:
            await srv.stop()


def _worker(plcs: list[FarmPlc], shelf: str, seed: int, conn: Any) -> None:
    """A worker process: quiet libraries, stop on SIGTERM/SIGINT, report readiness over the pipe."""
    for noisy in ("asyncua", "pymodbus"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve_group(plcs, Path(shelf), seed, conn.send, stop)

    asyncio.run(main())


@dataclass(slots=True)
class RunningFarm:
    """The farm's worker processes; `stop()` ends them all."""

    plcs: list[FarmPlc]
    processes: list[Any]
    start_s: float

    def stop(self) -> None:
        for p in self.processes:
            if p.is_alive():
                p.terminate()
        for p in self.processes:
            p.join(10)
            if p.is_alive():
                p.kill()
                p.join()


def assign(plcs: Sequence[FarmPlc], processes: int) -> list[list[FarmPlc]]:
    """Spread each protocol's PLCs round robin over the workers (a worker of OPC UA costs the most)."""
    groups: list[list[FarmPlc]] = [[] for _ in range(max(1, min(processes, len(plcs))))]
    ordered = sorted(plcs, key=lambda p: (p.protocol is FarmProtocol.MODBUS, p.index))
    for k, plc in enumerate(ordered):
        groups[k % len(groups)].append(plc)
    return [g for g in groups if g]


def start_farm(plcs: Sequence[FarmPlc], *, processes: int = 2, shelf: Path, seed: int = 42,
               timeout_s: float = 120.0) -> RunningFarm:
    """Start the workers and wait until every PLC listens; raise RuntimeError if one cannot."""
    ctx = multiprocessing.get_context("spawn")
    started = time.monotonic()
    workers = []
    for group in assign(plcs, processes):
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_worker, args=(group, str(shelf), seed, child), daemon=True)
        proc.start()
        child.close()
        workers.append((proc, parent))
    farm = RunningFarm(list(plcs), [p for p, _ in workers], 0.0)
    deadline = started + timeout_s
    for proc, conn in workers:
        if not conn.poll(max(0.0, deadline - time.monotonic())):
            farm.stop()
            raise RuntimeError(f"a farm worker did not start within {timeout_s:g} s")
        try:
            msg = conn.recv()
        except EOFError:
            farm.stop()
            raise RuntimeError(f"a farm worker exited while starting (exit code {proc.exitcode})") from None
        if not str(msg).startswith("ready"):
            farm.stop()
            raise RuntimeError(f"a farm worker could not start: {str(msg).removeprefix('failed ')}")
    farm.start_s = time.monotonic() - started
    return farm


def tag_count(plcs: Sequence[FarmPlc]) -> int:
    return sum(p.tags for p in plcs)


def describe(plcs: Sequence[FarmPlc]) -> list[str]:
    """One line per protocol: how many PLCs, tags, and on which ports."""
    lines = []
    for proto in (FarmProtocol.MODBUS, FarmProtocol.OPCUA):
        mine = [p for p in plcs if p.protocol is proto]
        if mine:
            ports = ", ".join(str(p.port) for p in mine)
            lines.append(f"  {proto.value:<7} {len(mine)} PLCs × {mine[0].tags} tags = {tag_count(mine):,} "
                         f"(ports {ports})")
    return lines

