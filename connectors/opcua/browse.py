"""Walk a server's address space and turn its numeric variables into plant-file tag stanzas.

`plantctl browse opc.tcp://… [--emit-config]` calls :func:`browse_command`. Units and ranges come
from the AnalogItem properties EngineeringUnits and EURange (OPC UA Part 8 §5.3.2).
"""

from __future__ import annotations

import asyncio
import re
import sys
from dataclasses import dataclass
from typing import cast

import typer
import yaml
from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.node import Node
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.uaerrors import UaError

from connectors.opcua.config import OpcUaSourceConfig
from connectors.opcua.security import SecuritySetupError, secure_client

SERVER_OBJECT = ua.NodeId.from_string("i=2253")  # Objects/Server: diagnostics, not plant data
HAS_PROPERTY = ua.NodeId.from_string("i=46")
HIERARCHICAL = ua.NodeId.from_string("i=33")
_NUMERIC = {
    ua.VariantType.Boolean,
    ua.VariantType.SByte,
    ua.VariantType.Byte,
    ua.VariantType.Int16,
    ua.VariantType.UInt16,
    ua.VariantType.Int32,
    ua.VariantType.UInt32,
    ua.VariantType.Int64,
    ua.VariantType.UInt64,
    ua.VariantType.Float,
    ua.VariantType.Double,
}


class BrowseError(Exception):
    """The server could not be browsed; the message says why."""


@dataclass(frozen=True, slots=True)
class BrowsedVariable:
    """One variable as a field engineer would put it in the plant file."""

    node_id: str
    browse_path: str
    data_type: str
    unit: str | None
    eu_range: tuple[float, float] | None
    writable: bool
    description: str = ""


async def _properties(node: Node) -> dict[str, object]:
    out: dict[str, object] = {}
    for ref in await node.get_references(refs=HAS_PROPERTY, direction=ua.BrowseDirection.Forward):
        name = ref.BrowseName.Name
        if name in ("EURange", "EngineeringUnits"):
            dv = await Node(node.session, ref.NodeId).read_data_value(raise_on_bad_status=False)
            if dv.Value is not None:
                out[name] = dv.Value.Value
    return out


async def _describe(node: Node, path: str) -> BrowsedVariable | None:
    try:
        vtype = await node.read_data_type_as_variant_type()
    except (UaError, ValueError, KeyError):
        return None
    if vtype not in _NUMERIC:
        return None
    props = await _properties(node)
    unit = None
    eu = props.get("EngineeringUnits")
    if isinstance(eu, ua.EUInformation) and eu.DisplayName and eu.DisplayName.Text:
        unit = eu.DisplayName.Text
    rng = props.get("EURange")
    eu_range = (float(rng.Low), float(rng.High)) if isinstance(rng, ua.Range) else None
    if vtype is ua.VariantType.Boolean:
        unit, eu_range = unit or "bool", eu_range or (0.0, 1.0)
    access = await node.read_attribute(AttributeIds.UserAccessLevel)
    level = int(access.Value.Value) if access.Value is not None and access.Value.Value is not None else 0
    writable = bool(level & ua.AccessLevel.CurrentWrite.mask)
    description = ""
    with_desc = await node.read_attribute(AttributeIds.Description)
    if with_desc.Value is not None and isinstance(with_desc.Value.Value, ua.LocalizedText):
        description = with_desc.Value.Value.Text or ""
    return BrowsedVariable(node.nodeid.to_string(), path, vtype.name, unit, eu_range, writable, description)


async def _walk(node: Node, path: str, out: list[BrowsedVariable], seen: set[str], max_nodes: int) -> None:
    for ref in await node.get_references(
        refs=HIERARCHICAL,
        direction=ua.BrowseDirection.Forward,
        nodeclassmask=cast(ua.NodeClass, ua.NodeClass.Object | ua.NodeClass.Variable),  # a bit mask,
    ):
        if ref.ReferenceTypeId == HAS_PROPERTY or ref.NodeId == SERVER_OBJECT:
            continue
        key = ref.NodeId.to_string()
        if key in seen or len(seen) >= max_nodes:
            continue
        seen.add(key)
        child = Node(node.session, ref.NodeId)
        child_path = f"{path}/{ref.BrowseName.Name}"
        if ref.NodeClass == ua.NodeClass.Variable:
            found = await _describe(child, child_path)
            if found is not None:
                out.append(found)
        await _walk(child, child_path, out, seen, max_nodes)


async def browse(
    endpoint: str, *, config: OpcUaSourceConfig | None = None, timeout_s: float = 10.0, max_nodes: int = 20000
) -> list[BrowsedVariable]:
    """Every numeric variable under Objects (except the Server object), with unit and range."""
    # an ad-hoc browse without a plant file reads only and sends no password: None is what it can ask for
    cfg = config or OpcUaSourceConfig(kind="opcua", name="BROWSE", endpoint=endpoint, allow_insecure=True)
    client = Client(endpoint, timeout=timeout_s)
    try:
        async with asyncio.timeout(timeout_s):
            await secure_client(client, cfg)
            await client.connect()
    except SecuritySetupError as exc:
        raise BrowseError(str(exc)) from exc
    except (TimeoutError, OSError, UaError) as exc:
        client.disconnect_socket()
        raise BrowseError(f"cannot open a session with {endpoint}: {exc or type(exc).__name__}") from exc
    try:
        found: list[BrowsedVariable] = []
        await _walk(client.nodes.objects, "Objects", found, set(), max_nodes)
        return found
    finally:
        try:
            await asyncio.wait_for(client.disconnect(), 2.0)
        except Exception:  # the answer is in hand; a slow goodbye must not hide it
            client.disconnect_socket()


def tag_name(path: str, taken: set[str]) -> str:
    """A plant-file tag name from the browse path: the last element, or more of it if taken."""
    parts = [re.sub(r"[^A-Za-z0-9_.\-]", "_", p) for p in path.split("/")[1:]]
    for depth in range(1, len(parts) + 1):
        name = ".".join(parts[-depth:])
        if not name[:1].isalpha():
            name = "T" + name
        name = name[:64]
        if name not in taken:
            taken.add(name)
            return name
    raise ValueError(f"no unique tag name for {path}")


def render_tags_yaml(variables: list[BrowsedVariable], source: str) -> str:
    """YAML `tags:` stanzas for the plant file; guesses are marked with a comment to check."""
    taken: set[str] = set()
    lines = ["tags:"]
    for v in variables:
        entry: dict[str, object] = {
            "name": tag_name(v.browse_path, taken),
            "description": v.description or v.browse_path,
            "unit": v.unit or "unknown",
            "range": {"low": v.eu_range[0], "high": v.eu_range[1]} if v.eu_range else {"low": 0, "high": 100},
            "source": source,
            "opcua": {"node_id": v.node_id},
        }
        if v.writable:
            entry["writable"] = True
        text = yaml.safe_dump([entry], sort_keys=False, default_flow_style=None, allow_unicode=True)
        todo = []
        if v.unit is None:
            todo.append("unit")
        if v.eu_range is None:
            todo.append("range")
        if todo:
            lines.append(f"  # {v.browse_path} ({v.data_type}): server publishes no {' or '.join(todo)}; set it")
        lines.extend("  " + line for line in text.rstrip().splitlines())
    return "\n".join(lines) + "\n"


def browse_command(
    endpoint: str, emit_config: bool = False, source: str = "PLC-OPCUA", timeout_s: float = 10.0
) -> None:
    """List a server's numeric variables, or print them as plant-file tags with --emit-config."""
    try:
        variables = asyncio.run(browse(endpoint, timeout_s=timeout_s))
    except BrowseError as exc:
        print(f"browse failed: {exc}", file=sys.stderr)
        raise typer.Exit(code=2) from exc
    if emit_config:
        sys.stdout.write(render_tags_yaml(variables, source))
        return
    for v in variables:
        rng = f"[{v.eu_range[0]:g}, {v.eu_range[1]:g}]" if v.eu_range else "[?]"
        rw = "rw" if v.writable else "ro"
        print(f"{v.node_id}\t{v.browse_path}\t{v.data_type}\t{v.unit or '?'}\t{rng}\t{rw}")
