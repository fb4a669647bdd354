"""A protocol added without editing the core: a tiny line-oriented TCP protocol, registered in this test only.

It lives entirely here (what a package under connectors/ would hold: config models, a check, a
source on the shared Supervisor, a Connector) and is driven through the registry, the plant-file
loader with file:line errors, a real TCP server on loopback, writes and a link loss.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Literal

import pytest
from pydantic import Field

from connectors.base import Connector, Emit, Endpoint, Source, SourceHealth
from connectors.modbus.protocol import MODBUS
from connectors.opcua.protocol import OPCUA
from connectors.registry import by_kind, create_sources, listen_endpoints, schemas
from connectors.supervisor import Supervisor, WriteFn, WriteProgress
from connectors.timing import every
from plantctl.config import ConfigError
from plantctl.config.load import load_plant
from plantctl.config.models import SourceConfigBase, TagAddress, TagConfig
from plantctl.config.protocols import CheckedPlant, ProtocolSchema
from plantctl.config.yamlsrc import ConfigIssue
from plantctl.quality import Quality
from plantctl.samples import Sample, utcnow
from plantctl.writes import WriteOutcome, WriteStatus
from tests.connectors.modbus_server import wait_until

pytestmark = pytest.mark.anyio

# --- the protocol's package: config, check, source, connector ----------------------------------


class LineSourceConfig(SourceConfigBase):
    kind: Literal["line"] = "line"
    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)


class LineAddress(TagAddress):
    kind: ClassVar[str] = "line"
    key: str = Field(pattern=r"^[a-z]+$")


def unique_keys(plant: CheckedPlant) -> list[ConfigIssue]:
    seen: dict[tuple[str, str], str] = {}
    issues = []
    for tag, _src in plant.tags_of_kind("line"):
        assert isinstance(tag.address, LineAddress)
        other = seen.setdefault((tag.source, tag.address.key), tag.name)
        if other != tag.name:
            issues.append(plant.issue(tag.name, ("line", "key"), f"key {tag.address.key!r} is also tag {other!r}"))
    return issues


class LineSource:
    """GET <key> → a number; SET <key> <value> → OK <value> or ERR <why>; one request per line."""

    def __init__(self, config: LineSourceConfig, tags: list[TagConfig], emit: Emit) -> None:
        self._cfg = config
        self._emit = emit
        self._tags = {t.name: t for t in tags if isinstance(t.address, LineAddress)}
        self._supervisor = Supervisor(config, emit, logging.getLogger("tests.line"))
        self._io: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    @property
    def name(self) -> str:
        return self._cfg.name

    def route_heartbeat(self, write: WriteFn) -> None:
        self._supervisor.heartbeat_write = write

    async def start(self) -> None:
        self._supervisor.start([_Link(self)], self.write)

    async def stop(self) -> None:
        await self._supervisor.stop()

    def health(self) -> SourceHealth:
        return self._supervisor.snapshot()

    async def ask(self, line: str) -> str:
        assert self._io is not None
        reader, writer = self._io
        writer.write(line.encode() + b"\n")
        await writer.drain()
        answer = await reader.readline()
        if not answer:
            raise ConnectionError("closed by the device")
        return answer.decode().strip()

    async def write(self, tag: str, value: float) -> WriteOutcome:
        cfg = self._tags.get(tag)
        if cfg is None or not cfg.writable:
            return WriteOutcome.policy(f"{tag} is not a writable tag of {self.name}")
        if self._io is None:
            return WriteOutcome.link_down(f"source {self.name} is not connected")
        assert isinstance(cfg.address, LineAddress)
        key = cfg.address.key

        async def attempt(progress: WriteProgress) -> WriteOutcome:
            answer = await self.ask(f"SET {key} {value:g}")
            if answer.startswith("ERR"):
                return WriteOutcome.device(f"device refused: {answer[4:]}")
            progress.written = True
            return WriteOutcome.written(float(answer.split()[1]))

        def classify(exc: BaseException, progress: WriteProgress) -> WriteOutcome | None:
            if isinstance(exc, TimeoutError):
                return WriteOutcome.timeout(f"no answer writing {tag}")
            if isinstance(exc, OSError):
                return WriteOutcome.link_down(f"link lost writing {tag}: {exc}")
            return None

        return await self._supervisor.write(attempt, classify, 1.0)


class _Link:
    def __init__(self, source: LineSource) -> None:
        self._source = source
        self.tags: Sequence[str] = list(source._tags)

    async def connect(self) -> None:
        self._source._io = await asyncio.open_connection(self._source._cfg.host, self._source._cfg.port)

    def describe(self, exc: BaseException) -> str:
        return f"cannot connect: {exc!r}"

    async def run(self) -> str:
        async def scan() -> None:
            batch = []
            for tag in self._source._tags.values():
                assert isinstance(tag.address, LineAddress)
                batch.append(Sample(tag.name, utcnow(), float(await self._source.ask(f"GET {tag.address.key}"))))
            self._source._emit(batch)

        try:
            await every(0.05, scan)
        except OSError as exc:
            return f"link lost: {exc}"
        return "acquisition ended"

    async def close(self) -> None:
        io, self._source._io = self._source._io, None
        if io is not None:
            io[1].close()


def _create(config: SourceConfigBase, tags: list[TagConfig], emit: Emit) -> Source:
    assert isinstance(config, LineSourceConfig)
    return LineSource(config, tags, emit)


def _endpoints(config: SourceConfigBase) -> list[Endpoint]:
    assert isinstance(config, LineSourceConfig)
    return [Endpoint(config.host, config.port, f"line protocol ({config.name})")]


LINE = Connector(ProtocolSchema("line", LineSourceConfig, LineAddress, (unique_keys,)), _create, _endpoints)
CONNECTORS = by_kind([MODBUS, OPCUA, LINE])  # the one registry line a new protocol adds

# --- the device ------------------------------------------------------------------------------


class LineDevice:
    def __init__(self) -> None:
        self.values = {"level": 42.0, "speed": 0.0}
        self.server: asyncio.Server | None = None
        self.port = 0
        self.clients: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for w in self.clients:
            w.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.clients.append(writer)
        while line := (await reader.readline()).decode().split():
            if line[0] == "GET":
                writer.write(f"{self.values[line[1]]}\n".encode())
            elif float(line[2]) > 100:
                writer.write(b"ERR above 100\n")
            else:
                self.values[line[1]] = float(line[2])
                writer.write(f"OK {self.values[line[1]]}\n".encode())
            await writer.drain()
        writer.close()


PLANT = """\
plant: {{name: seam}}
sources:
  - {{name: LINE-1, kind: line, port: {port}}}
tags:
  - {{name: LIT-1, unit: "%", range: {{low: 0, high: 100}}, source: LINE-1, line: {{key: level}}}}
  - {{name: SIT-1, unit: "%", range: {{low: 0, high: 200}}, source: LINE-1, line: {{key: speed}}, writable: true}}
"""


async def test_a_protocol_outside_the_core_loads_acquires_writes_and_reports_loss(tmp_path: Path) -> None:
    device = LineDevice()
    await device.start()
    plant_file = tmp_path / "plant.yaml"
    plant_file.write_text(PLANT.format(port=device.port))
    plant = load_plant(plant_file, schemas(CONNECTORS))
    assert isinstance(plant.tags[0].address, LineAddress) and plant.tags[0].address.key == "level"
    assert [(e.port, e.what) for e in listen_endpoints(plant, CONNECTORS)] == [(device.port, "line protocol (LINE-1)")]

    got: list[Sample] = []
    (source,) = create_sources(plant, got.extend, CONNECTORS)
    await source.start()
    try:
        await wait_until(lambda: any(s.tag == "LIT-1" and s.value == 42.0 for s in got), 5, "a value")
        ok = await source.write("SIT-1", 55)
        assert ok.status is WriteStatus.WRITTEN and ok.value_read_back == 55.0 and device.values["speed"] == 55.0
        refused = await source.write("SIT-1", 150)
        assert refused.status is WriteStatus.REFUSED_BY_DEVICE and "above 100" in refused.reason
        assert (await source.write("LIT-1", 1)).status is WriteStatus.REFUSED_BY_POLICY

        await device.stop()
        await wait_until(lambda: not source.health().connected, 5, "the loss noticed")
        await asyncio.sleep(0.6)  # a few failed reconnects: still one Bad sample per tag
        bad = [s for s in got if s.quality is Quality.BAD_NOT_CONNECTED]
        assert sorted(s.tag for s in bad) == ["LIT-1", "SIT-1"] and all(math.isnan(s.value) for s in bad)
        assert (await source.write("SIT-1", 5)).status is WriteStatus.LINK_DOWN
    finally:
        await source.stop()


def test_its_config_errors_come_with_file_and_line_and_its_own_check_runs(tmp_path: Path) -> None:
    plant_file = tmp_path / "plant.yaml"
    plant_file.write_text(PLANT.format(port=5000).replace("key: speed", "key: Speed") + """\
  - {name: LIT-2, unit: "%", range: {low: 0, high: 100}, source: LINE-1, line: {key: level}}
  - {name: LIT-3, unit: "%", range: {low: 0, high: 100}, source: LINE-1, opcua: {node_id: "ns=2;s=x"}}
""")
    with pytest.raises(ConfigError) as info:
        load_plant(plant_file, schemas(CONNECTORS))
    got = [(i.line, i.message) for i in info.value.issues]
    assert got[0][0] == 6 and "should match pattern" in got[0][1], got
    assert got[1] == (7, "key 'level' is also tag 'LIT-1'"), got
    assert got[2] == (8, "source 'LINE-1' is line: give the tag a line: address"), got
    assert len(got) == 3, got
    # without the protocol in the registry, the same file names the kinds it knows
    with pytest.raises(ConfigError) as info:
        load_plant(plant_file, schemas(by_kind([MODBUS, OPCUA])))
    assert info.value.issues[0].line == 3 and "got 'line'" in info.value.issues[0].message


async def test_the_heartbeat_goes_through_the_injected_write(tmp_path: Path) -> None:
    device = LineDevice()
    await device.start()
    plant_file = tmp_path / "plant.yaml"
    plant_file.write_text(PLANT.format(port=device.port).replace(
        f"port: {device.port}}}", f"port: {device.port}, heartbeat_tag: SIT-1, heartbeat_period_s: 0.05}}"))
    plant = load_plant(plant_file, schemas(CONNECTORS))
    routed: list[tuple[str, float]] = []
    (source,) = create_sources(plant, lambda batch: None, CONNECTORS)

    async def gate(tag: str, value: float) -> WriteOutcome:
        routed.append((tag, value))
        return WriteOutcome.written(value)

    source.route_heartbeat(gate)
    await source.start()
    try:
        await wait_until(lambda: len(routed) >= 3, 5, "heartbeats through the gate")
    finally:
        await source.stop()
        await device.stop()
    assert [v for _t, v in routed[:3]] == [1.0, 2.0, 3.0] and {t for t, _v in routed} == {"SIT-1"}
    assert device.values["speed"] == 0.0, "nothing reached the device but through the gate"
