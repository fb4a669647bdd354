"""`plantctl probe opcua ENDPOINT NODE…`: read nodes once and say, per node, whether plantctl can use it as a tag.

The OPC UA twin of `probe modbus`: value, status code, source and server timestamps, data type and the
AnalogItem's EURange and EngineeringUnits, then a verdict that names the fix — an unknown node, a
value that is not a number, a value outside its EU range, or a source timestamp that is old (a
server that stamps only on change: `timestamp: receipt`) or ahead of this computer's clock.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import typer
from asyncua import ua
from asyncua.client.client import Client
from asyncua.ua.uaerrors import UaError

from connectors.opcua import tool_session as tool
from connectors.opcua.browse import units_and_range
from connectors.opcua.quality import map_status, status_name
from connectors.opcua.security import SecuritySetupError
from connectors.opcua.source import read_values
from plantctl.samples import utcnow

_NODE_ID = re.compile(r"^(?:ns=\d+;|nsu=(?P<uri>[^;]+);)?(?P<ident>[isgb]=.+)$")
CLOCK_AHEAD_S = 2.0
"""A source timestamp this far ahead of our clock means the clocks differ."""
_NUMERIC = {"Boolean", "SByte", "Byte", "Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64", "Float", "Double"}


class Verdict(StrEnum):
    OK = "OK"
    WARN = "WARN"
    BAD = "BAD"


@dataclass(frozen=True, slots=True)
class NodeReading:
    """One node as read, and what plantctl makes of it."""

    node_id: str
    value: Any = None
    data_type: str | None = None
    status: str = ""
    status_code: int = 0
    source_ts: datetime | None = None
    server_ts: datetime | None = None
    received: datetime | None = None
    eu_range: tuple[float, float] | None = None
    unit: str | None = None
    verdict: Verdict = Verdict.OK
    why: str = ""


def _aware(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def judge_reading(r: NodeReading, max_age_s: float) -> tuple[Verdict, str]:
    """The verdict on one reading and the reason with its fix (pure: tested on its own)."""
    if r.status_code & 0x80000000:
        _, reason = map_status(r.status_code)
        hint = {
            "BadNodeIdUnknown": "no such node on this server: find its id with plantctl browse",
            "BadNodeIdInvalid": "the id is malformed for this server: find it with plantctl browse",
            "BadUserAccessDenied": "this user may not read it: ask the PLC's administrator, or log in as another",
            "BadNotReadable": "the node is not readable: ask the PLC's administrator",
            "BadAttributeIdInvalid": "it is not a variable (an object or method?): pick a variable with browse",
        }.get(status_name(r.status_code & 0xFFFF0000), "the server says the value is not usable")
        return Verdict.BAD, f"{reason} — {hint}"
    if r.data_type not in _NUMERIC or not isinstance(r.value, bool | int | float):
        held = "no value" if r.value is None else f"a {r.data_type or type(r.value).__name__}"
        return Verdict.BAD, f"holds {held}, not a number: not usable as a tag"
    notes: list[str] = []
    verdict = Verdict.OK
    value = float(r.value)
    if r.status_code & 0x40000000:
        verdict = Verdict.WARN
        notes.append(f"the server marks it {status_name(r.status_code & 0xFFFF0000)}: it doubts the value")
    if r.eu_range is not None and math.isfinite(value) and not r.eu_range[0] <= value <= r.eu_range[1]:
        verdict = Verdict.WARN
        notes.append(f"{value:g} is outside its EURange [{r.eu_range[0]:g}, {r.eu_range[1]:g}]: "
                     "check the PLC's scaling")
    now = r.received or utcnow()
    if r.source_ts is None:
        verdict = Verdict.WARN
        notes.append("no source timestamp: set timestamp: server or receipt on the source")
    else:
        age = (now - r.source_ts).total_seconds()
        if age < -CLOCK_AHEAD_S:
            verdict = Verdict.WARN
            notes.append(f"source timestamp {-age:.1f} s ahead of this computer's clock: the clocks differ "
                         "(synchronise them, or set timestamp: receipt on the source)")
        elif age > max_age_s:
            verdict = Verdict.WARN
            notes.append(f"source timestamp {age:.0f} s old: the server stamps only on change or its clock is "
                         "behind; set timestamp: receipt on the source so steady values are stored as current")
    if not notes:
        return Verdict.OK, "numeric, Good" + (", inside its EURange" if r.eu_range else "") + \
            ", source timestamp current"
    return verdict, "; ".join(notes)


async def _resolve(client: Client, node_id: str) -> ua.NodeId | str:
    """The NodeId to read, nsu= resolved against the server's namespaces; a str says why it cannot be."""
    found = _NODE_ID.match(node_id)
    if found is None:
        return (f"{node_id!r} is not an OPC UA node id: write ns=2;s=Plant.AIT-101 or "
                "nsu=urn:vendor:plc;s=Plant.AIT-101 (i= numeric, s= string, g= GUID, b= opaque)")
    uri = found.group("uri")
    text = node_id
    if uri is not None:
        namespaces = list(await client.get_namespace_array())
        if uri not in namespaces:
            return f"namespace {uri!r} is not on this server; it offers {', '.join(namespaces)}"
        text = f"ns={namespaces.index(uri)};{found.group('ident')}"
    try:
        return ua.NodeId.from_string(text)
    except (ValueError, UaError) as exc:
        return f"{node_id!r} is not an OPC UA node id: {exc}"


async def read_nodes(client: Client, node_ids: list[str], max_age_s: float = 60.0) -> list[NodeReading]:
    """Read each node once (value with both timestamps, data type, EU properties) and judge it."""
    out: list[NodeReading] = []
    for node_id in node_ids:
        resolved = await _resolve(client, node_id)
        if isinstance(resolved, str):
            out.append(NodeReading(node_id, verdict=Verdict.BAD, why=resolved))
            continue
        dv = (await read_values(client, [resolved]))[0]
        received = utcnow()
        code = dv.StatusCode.value if dv.StatusCode is not None else 0
        node = client.get_node(resolved)
        data_type: str | None = None
        eu_range: tuple[float, float] | None = None
        unit: str | None = None
        if not code & 0x80000000:
            try:
                data_type = (await node.read_data_type_as_variant_type()).name
            except (UaError, ValueError, KeyError):
                data_type = None
            unit, eu_range = await units_and_range(node)
        reading = NodeReading(
            node_id, dv.Value.Value if dv.Value is not None else None, data_type, status_name(code & 0xFFFF0000),
            code, _aware(dv.SourceTimestamp), _aware(dv.ServerTimestamp), received, eu_range, unit)
        verdict, why = judge_reading(reading, max_age_s)
        out.append(dataclasses.replace(reading, verdict=verdict, why=why))
    return out


def _when(ts: datetime | None, received: datetime | None) -> str:
    if ts is None:
        return "—"
    if received is None:
        return ts.isoformat()
    delta = (received - ts).total_seconds()
    return f"{ts.isoformat(timespec='milliseconds')} ({abs(delta):.1f} s {'ago' if delta >= 0 else 'ahead'})"


def render(readings: list[NodeReading]) -> str:
    lines: list[str] = []
    for r in readings:
        lines.append(r.node_id)
        if r.status or r.value is not None:
            shown = "—" if r.value is None else f"{r.value!r}"
            lines.append(f"  value        {shown} ({r.data_type or '?'})")
            lines.append(f"  status       {r.status} (0x{r.status_code:08X})")
            lines.append(f"  source time  {_when(r.source_ts, r.received)}")
            lines.append(f"  server time  {_when(r.server_ts, r.received)}")
            rng = f"[{r.eu_range[0]:g}, {r.eu_range[1]:g}]" if r.eu_range else "none published"
            lines.append(f"  EU range     {rng}" + (f" {r.unit}" if r.unit else ""))
        lines.append(f"  verdict      {r.verdict.value}: {r.why}")
    return "\n".join(lines) + "\n"


@tool.security_options
def probe_opcua_command(
    endpoint: Annotated[str, typer.Argument(help="opc.tcp://host:port/path", show_default=False)],
    nodes: Annotated[list[str], typer.Argument(help="node ids: ns=2;s=… or nsu=<URI>;s=…", show_default=False)],
    max_age_s: Annotated[float, typer.Option(
        "--max-age", help="a source timestamp older than this many seconds is reported")] = 60.0,
    timeout_s: Annotated[float, typer.Option("--timeout", help="seconds to wait for the server")] = 10.0,
    config: tool.ConfigOpt = None,
    source: tool.SourceOpt = "PLC-OPCUA",
    *,
    flags: tool.SecurityFlags,
) -> None:
    """Read OPC UA nodes once: value, status, both timestamps, type, EU range, and a verdict per node."""
    from plantctl.logs import quiet_libraries

    quiet_libraries()

    async def run() -> list[NodeReading]:
        session = tool.tool_session(endpoint, source, flags, config, "probe")
        async with tool.connected(session.config, timeout_s, session.confirm, session.identity) as client:
            async with asyncio.timeout(timeout_s + len(nodes)):
                return await read_nodes(client, nodes, max_age_s)

    try:
        readings = asyncio.run(run())
    except (SecuritySetupError, TimeoutError, OSError, UaError) as exc:
        print(f"probe failed: {exc or type(exc).__name__}", file=sys.stderr)
        raise typer.Exit(code=2) from exc
    sys.stdout.write(render(readings))
    if any(r.verdict is Verdict.BAD for r in readings):
        raise typer.Exit(code=1)
