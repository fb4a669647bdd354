"""Walk a server's address space and turn its numeric variables into plant-file tag stanzas.

`plantctl browse opc.tcp://… [--emit-config]` calls :func:`browse_command`. Units and ranges come
from the AnalogItem properties EngineeringUnits and EURange (OPC UA Part 8 §5.3.2).
"""

from __future__ import annotations

import asyncio
import fnmatch
import re
import sys
from dataclasses import dataclass
from typing import Annotated, cast

import typer
import yaml
from asyncua import ua
from asyncua.common.node import Node
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.uaerrors import UaError

from connectors.opcua import tool_session as tool
from connectors.opcua.config import OpcUaSourceConfig
from connectors.opcua.security import ClientIdentity, SecuritySetupError
from connectors.opcua.tool_session import Confirm, connected

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


async def analog_properties(node: Node) -> dict[str, object]:
    out: dict[str, object] = {}
    for ref in await node.get_references(refs=HAS_PROPERTY, direction=ua.BrowseDirection.Forward):
        name = ref.BrowseName.Name
        if name in ("EURange", "EngineeringUnits"):
            dv = await Node(node.session, ref.NodeId).read_data_value(raise_on_bad_status=False)
            if dv.Value is not None:
                out[name] = dv.Value.Value
    return out


async def units_and_range(node: Node) -> tuple[str | None, tuple[float, float] | None]:
    """The unit (our spelling) and EU range an AnalogItem publishes (None where it publishes none)."""
    props = await analog_properties(node)
    eu = props.get("EngineeringUnits")
    rng = props.get("EURange")
    return (our_unit(eu) if isinstance(eu, ua.EUInformation) else None,
            (float(rng.Low), float(rng.High)) if isinstance(rng, ua.Range) else None)


# OPC UA Part 8 §5.6.3: EUInformation.UnitId packs the UNECE Rec 20 common code; ours as the plant file spells it.
_UNECE_TO_OURS = {"MQH": "m3/h", "H61": "mS/cm", "P1": "%", "CEL": "degC", "M1": "mg/L", "E32": "L/h",
                  "LTR": "L", "MTQ": "m3", "BAR": "bar", "KPA": "kPa", "MTR": "m", "MMT": "mm"}
_SYMBOL_TO_OURS = {"m³/h": "m3/h", "°C": "degC", "mg/l": "mg/L", "l/h": "L/h", "m³": "m3"}


def our_unit(eu: ua.EUInformation) -> str | None:
    """Our spelling of a server's EngineeringUnits: by UNECE code first, then by its display name."""
    uid = int(eu.UnitId) if eu.UnitId is not None else -1
    if uid > 0:
        code = "".join(chr((uid >> shift) & 0xFF) for shift in (16, 8, 0)).lstrip("\x00")
        if code in _UNECE_TO_OURS:
            return _UNECE_TO_OURS[code]
    text = eu.DisplayName.Text if eu.DisplayName and eu.DisplayName.Text else None
    return _SYMBOL_TO_OURS.get(text, text) if text else None


async def _describe(node: Node, path: str) -> BrowsedVariable | None:
    try:
        vtype = await node.read_data_type_as_variant_type()
    except (UaError, ValueError, KeyError):
        return None
    if vtype not in _NUMERIC:
        return None
    unit, eu_range = await units_and_range(node)
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
    endpoint: str, *, config: OpcUaSourceConfig | None = None, timeout_s: float = 10.0, max_nodes: int = 20000,
    confirm: Confirm | None = None, identity: ClientIdentity | None = None,
) -> list[BrowsedVariable]:
    """Every numeric variable under Objects (except the Server object), with unit and range."""
    # an ad-hoc browse without a plant file reads only and sends no password: None is what it can ask for
    cfg = config or OpcUaSourceConfig(kind="opcua", name="BROWSE", endpoint=endpoint, allow_insecure=True)
    found: list[BrowsedVariable] = []
    try:
        async with connected(cfg, timeout_s, confirm, identity) as client:
            await _walk(client.nodes.objects, "Objects", found, set(), max_nodes)
    except SecuritySetupError as exc:  # only opening the session says this
        raise BrowseError(str(exc)) from exc
    return found


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


def render_tags_yaml(variables: list[BrowsedVariable], source: str, writable_pattern: str | None = None) -> str:
    """YAML `tags:` stanzas safe to paste: read-only unless asked, and `# TODO` (a check-config warning) on guesses."""
    taken: set[str] = set()
    lines = ["tags:"]
    for v in variables:
        name = tag_name(v.browse_path, taken)
        entry: dict[str, object] = {
            "name": name,
            "description": v.description or v.browse_path,
            "unit": v.unit or "unknown",
            "range": {"low": v.eu_range[0], "high": v.eu_range[1]} if v.eu_range else {"low": 0, "high": 100},
            "source": source,
            "opcua": {"node_id": v.node_id},
        }
        asked = writable_pattern is not None and (
            fnmatch.fnmatchcase(name, writable_pattern) or fnmatch.fnmatchcase(v.browse_path, writable_pattern))
        entry["writable"] = v.writable and asked
        text = yaml.safe_dump([entry], sort_keys=False, default_flow_style=None, allow_unicode=True)
        todo = []
        if v.unit is None:
            todo.append("unit (server publishes no EngineeringUnits)")
        if v.eu_range is None:
            todo.append("range (server publishes no EURange; 0–100 is a guess)")
        if todo:
            lines.append(f"  # TODO {v.browse_path} ({v.data_type}): set {'; '.join(todo)}")
        if v.writable and not asked:
            lines.append("  # the server lets this node be written; left read-only (browse --writable-pattern)")
        lines.extend("  " + line for line in text.rstrip().splitlines())
    return "\n".join(lines) + "\n"


@tool.security_options
def browse_command(
    endpoint: str,
    emit_config: bool = False,
    source: tool.SourceOpt = "PLC-OPCUA",
    timeout_s: float = 10.0,
    writable_pattern: Annotated[str | None, typer.Option(
        help="glob on tag name or browse path: only matching writable nodes are emitted writable")] = None,
    config: tool.ConfigOpt = None,
    *,
    flags: tool.SecurityFlags,
) -> None:
    """List a server's numeric variables, or print them as plant-file tags with --emit-config."""
    from plantctl.logs import quiet_libraries

    quiet_libraries()
    try:
        session = tool.tool_session(endpoint, source, flags, config, "browse")
        variables = asyncio.run(browse(endpoint, config=session.config, timeout_s=timeout_s, confirm=session.confirm,
                                       identity=session.identity))
    except (BrowseError, SecuritySetupError) as exc:
        print(f"browse failed: {exc}", file=sys.stderr)
        raise typer.Exit(code=2) from exc
    if emit_config:
        sys.stdout.write(render_tags_yaml(variables, source, writable_pattern))
        return
    for v in variables:
        rng = f"[{v.eu_range[0]:g}, {v.eu_range[1]:g}]" if v.eu_range else "[?]"
        rw = "rw" if v.writable else "ro"
        print(f"{v.node_id}\t{v.browse_path}\t{v.data_type}\t{v.unit or '?'}\t{rng}\t{rw}")
