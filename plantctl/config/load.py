"""Load and check a plant file, reporting every problem at once with file and line."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TypeVar, cast

from pydantic import BaseModel, ValidationError

from plantctl.config.models import (
    AlarmConfig,
    HistorianConfig,
    LoopConfig,
    ModbusSourceConfig,
    ModbusTable,
    ModbusType,
    OpcUaSourceConfig,
    PlantConfig,
    PlantInfo,
    TagConfig,
)
from plantctl.config.reporting import ReportingConfig
from plantctl.config.yamlsrc import ConfigError, ConfigIssue, Loc, LocatedDocument, load_located

M = TypeVar("M", bound=BaseModel)

_SOURCE_KINDS: dict[str, type[BaseModel]] = {"opcua": OpcUaSourceConfig, "modbus": ModbusSourceConfig}
_SECTIONS = set(PlantConfig.model_fields)


def _plain(error: Any) -> str:
    kind, msg, loc = error["type"], error["msg"], error["loc"]
    field = loc[-1] if loc else ""
    if kind == "extra_forbidden":
        return f"unknown field {field!r}"
    if kind == "missing":
        return f"missing required field {field!r}"
    if msg.startswith("Value error, "):
        return str(msg[len("Value error, "):])
    if kind == "string_pattern_mismatch" and field == "name":
        return "a name starts with a letter and holds only letters, digits, '_', '-' and '.'"
    return f"{msg} (got {error.get('input')!r})" if "input" in error and not isinstance(
        error["input"], dict | list) else str(msg)


def validate_section(
    doc: LocatedDocument, model: type[M], value: Any, loc: Loc, issues: list[ConfigIssue]
) -> M | None:
    """Validate one part of a located document; its errors carry the document's lines."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        for err in exc.errors():
            issues.append(doc.issue((*loc, *err["loc"]), _plain(err)))
        return None


def _items(doc: LocatedDocument, key: str, issues: list[ConfigIssue]) -> list[tuple[int, Any]]:
    value = doc.data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        issues.append(doc.issue((key,), f"{key} must be a list"))
        return []
    return list(enumerate(value))


def check_plant(doc: LocatedDocument) -> tuple[PlantConfig | None, list[ConfigIssue]]:
    issues: list[ConfigIssue] = []
    data = doc.data
    if not isinstance(data, dict):
        return None, [doc.issue((), "a plant file is a mapping with plant:, sources:, tags: …")]
    for key in data:
        if key not in _SECTIONS:
            issues.append(doc.issue((key,), f"unknown section {key!r}; known: {', '.join(sorted(_SECTIONS))}"))
    if "plant" not in data:
        issues.append(doc.issue((), "missing required section 'plant'"))
    else:
        validate_section(doc, PlantInfo, data["plant"], ("plant",), issues)
    if data.get("historian") is not None:
        validate_section(doc, HistorianConfig, data["historian"], ("historian",), issues)

    sources: dict[str, BaseModel] = {}
    for i, item in _items(doc, "sources", issues):
        loc: Loc = ("sources", i)
        kind = item.get("kind") if isinstance(item, dict) else None
        model = _SOURCE_KINDS.get(kind) if isinstance(kind, str) else None
        if model is None:
            issues.append(doc.issue((*loc, "kind"),
                                    f"source kind must be one of {sorted(_SOURCE_KINDS)}, got {kind!r}"))
            continue
        src = validate_section(doc, model, item, loc, issues)
        if src is not None:
            name = src.name  # type: ignore[attr-defined]
            if name in sources:
                issues.append(doc.issue((*loc, "name"), f"duplicate source name {name!r}"))
            sources[name] = src

    tags: dict[str, TagConfig] = {}
    tag_loc: dict[str, Loc] = {}
    for i, item in _items(doc, "tags", issues):
        loc = ("tags", i)
        raw_name = item.get("name") if isinstance(item, dict) else None
        if isinstance(raw_name, str) and raw_name in tag_loc:
            first = doc.line_of(tag_loc[raw_name])
            issues.append(doc.issue((*loc, "name"), f"duplicate tag {raw_name!r} (first at line {first})"))
            continue
        if isinstance(raw_name, str):
            tag_loc[raw_name] = loc
        tag = validate_section(doc, TagConfig, item, loc, issues)
        if tag is None:
            continue
        tags[tag.name] = tag
        src = sources.get(tag.source)
        if src is None:
            named = {s.get("name") for _, s in _items(doc, "sources", [])
                     if isinstance(s, dict) and isinstance(s.get("name"), str)}  # a list as name is unhashable
            if tag.source not in named:
                issues.append(doc.issue((*loc, "source"), f"unknown source {tag.source!r}"))
        elif isinstance(src, OpcUaSourceConfig) and tag.opcua is None:
            issues.append(doc.issue((*loc, "modbus"),
                                    f"source {tag.source!r} is OPC UA: give the tag an opcua: address"))
        elif isinstance(src, ModbusSourceConfig) and tag.modbus is None:
            issues.append(doc.issue((*loc, "opcua"),
                                    f"source {tag.source!r} is Modbus: give the tag a modbus: address"))
        if tag.writable and tag.modbus is not None and tag.modbus.table in (
                ModbusTable.INPUT_REGISTER, ModbusTable.DISCRETE_INPUT):
            issues.append(doc.issue((*loc, "writable"), f"a {tag.modbus.table.value} is read-only in Modbus"))

    issues.extend(_modbus_overlaps(doc, tags, tag_loc, sources))

    def ref(loc: Loc, name: Any, what: str = "tag") -> None:
        if isinstance(name, str) and name not in tags and name not in tag_loc:
            issues.append(doc.issue(loc, f"unknown {what} {name!r}"))

    for name, src in sources.items():
        hb = getattr(src, "heartbeat_tag", None)
        if hb is not None:
            i = next(i for i, s in _items(doc, "sources", []) if isinstance(s, dict) and s.get("name") == name)
            ref(("sources", i, "heartbeat_tag"), hb)
            if hb in tags and not tags[hb].writable:
                issues.append(doc.issue(("sources", i, "heartbeat_tag"), f"heartbeat tag {hb!r} must be writable"))

    loops: dict[str, LoopConfig] = {}
    loop_loc: dict[str, Loc] = {}
    for i, item in _items(doc, "loops", issues):
        loc = ("loops", i)
        loop = validate_section(doc, LoopConfig, item, loc, issues)
        if loop is None:
            continue
        if loop.name in loops:
            issues.append(doc.issue((*loc, "name"), f"duplicate loop {loop.name!r}"))
        loops[loop.name] = loop
        ref((*loc, "pv"), loop.pv)
        for j, mv in enumerate(loop.mv):
            ref((*loc, "mv", j), mv)
            if mv in tags and not tags[mv].writable:
                issues.append(doc.issue((*loc, "mv", j), f"output tag {mv!r} is not writable"))
        if loop.feedforward is not None:
            ref((*loc, "feedforward", "flow_tag"), loop.feedforward.flow_tag)
            ref((*loc, "feedforward", "influent_ph_tag"), loop.feedforward.influent_ph_tag)
        for j, lock in enumerate(loop.interlocks):
            ref((*loc, "interlocks", j, "tag"), lock.tag)
            for k, voted in enumerate(lock.voted_with):
                ref((*loc, "interlocks", j, "voted_with", k), voted)
        loop_loc[loop.name] = loc

    primaries = {lp.cas_source for lp in loops.values()}
    for name, loop in loops.items():
        if not loop.mv and name not in primaries:
            issues.append(doc.issue((*loop_loc[name], "mv"),
                                    "a loop needs output tags (mv:) unless it is another loop's cas_source"))
        cas = loop.cas_source
        if cas is not None and cas not in tags and cas not in tag_loc and cas not in loops:
            issues.append(doc.issue((*loop_loc[name], "cas_source"), f"unknown tag or loop {cas!r}"))

    alarm_names: set[str] = set()
    for i, item in _items(doc, "alarms", issues):
        loc = ("alarms", i)
        alarm = validate_section(doc, AlarmConfig, item, loc, issues)
        if alarm is None:
            continue
        if alarm.name in alarm_names:
            issues.append(doc.issue((*loc, "name"), f"duplicate alarm {alarm.name!r}"))
        alarm_names.add(alarm.name)
        ref((*loc, "tag"), alarm.tag)
        if alarm.suppress_when is not None:
            ref((*loc, "suppress_when", "tag"), alarm.suppress_when.tag)
        if alarm.loop is not None and alarm.loop not in loops:
            issues.append(doc.issue((*loc, "loop"), f"unknown loop {alarm.loop!r}"))

    if data.get("reporting") is not None:
        reporting = validate_section(doc, ReportingConfig, data["reporting"], ("reporting",), issues)
        for where, name, unit in reporting.unit_checks() if isinstance(reporting, ReportingConfig) else []:
            if name not in tags:
                ref(("reporting", *where), name)
            elif tags[name].unit != unit:
                issues.append(doc.issue(("reporting", *where),
                                        f"tag {name!r} is in {tags[name].unit!r}; this figure needs a tag in {unit!r}"))

    if data.get("simulation") is not None and not isinstance(data["simulation"], dict):
        issues.append(doc.issue(("simulation",), "simulation must be a mapping"))

    for check in section_checks(doc):
        issues.extend(check(doc))

    if not issues:
        # an empty section (`historian:` with nothing under it) means the defaults, as if absent
        whole = validate_section(doc, PlantConfig, {k: v for k, v in data.items() if v is not None}, (), issues)
        if whole is not None:
            return whole, []
    return None, sorted(issues, key=lambda i: (i.line or 0, str(i.loc)))


def _modbus_overlaps(
    doc: LocatedDocument, tags: dict[str, TagConfig], tag_loc: dict[str, Loc], sources: dict[str, BaseModel]
) -> list[ConfigIssue]:
    """Two tags may share a register only as distinct bits of it (Telegraf-style Init() check)."""
    issues: list[ConfigIssue] = []
    owners: dict[tuple[str, int, ModbusTable, int], list[tuple[str, int | None]]] = defaultdict(list)
    for tag in tags.values():
        src = sources.get(tag.source)
        if tag.modbus is None or not isinstance(src, ModbusSourceConfig):
            continue
        unit = tag.modbus.unit_id if tag.modbus.unit_id is not None else src.unit_id
        bit = tag.modbus.bit if tag.modbus.type is ModbusType.BIT else None
        clash: str | None = None
        for reg in tag.modbus.span:
            key = (tag.source, unit, tag.modbus.table, reg)
            for other, other_bit in owners[key]:
                if bit is None or other_bit is None or bit == other_bit:
                    clash = other
            owners[key].append((tag.name, bit))
        if clash is not None:
            issues.append(doc.issue(
                (*tag_loc[tag.name], "modbus", "address"),
                f"{tag.modbus.table.value} {tag.modbus.address} ({tag.modbus.type.value}) overlaps tag {clash!r} "
                f"on source {tag.source!r} unit {unit}"))
    return issues


SectionCheck = Callable[[LocatedDocument], list[ConfigIssue]]
# Checks registered at run time (tests); packages that own a section declare it as an entry point instead.
SECTION_CHECKS: list[SectionCheck] = []
SECTION_CHECK_GROUP = "plantctl.config_sections"


@functools.cache
def _declared_section_check(section: str) -> SectionCheck | None:
    """The check of a section another package owns (the simulator's `simulation:`), declared as an entry point
    named after the section in pyproject.toml: a plant file is checked the same whatever was imported before,
    and a plant file without the section loads nothing of that package."""
    found = entry_points(group=SECTION_CHECK_GROUP, name=section)
    return None if not found else cast(SectionCheck, next(iter(found)).load())


def section_checks(doc: LocatedDocument) -> list[SectionCheck]:
    """The declared checks of the sections the document has, then any registered at run time, each once."""
    sections = doc.data if isinstance(doc.data, dict) else {}
    checks: list[SectionCheck] = []
    for check in (*(_declared_section_check(str(k)) for k in sections), *SECTION_CHECKS):
        if check is not None and check not in checks:
            checks.append(check)
    return checks


def load_plant(path: str | Path) -> PlantConfig:
    """Load a plant file or raise ConfigError listing every problem with its line."""
    doc = load_located(path)
    config, issues = check_plant(doc)
    if config is None:
        raise ConfigError(issues)
    return config
