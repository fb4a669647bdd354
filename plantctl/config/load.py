"""Load and check a plant file, reporting every problem at once with file and line."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TypeVar, cast

from pydantic import BaseModel, ValidationError

from plantctl.config.models import (
    AlarmConfig,
    DiversionConfig,
    HistorianConfig,
    LoopConfig,
    PlantConfig,
    PlantInfo,
    SourceConfigBase,
    TagAddress,
    TagConfig,
)
from plantctl.config.process import ProcessConfig
from plantctl.config.protocols import CheckedPlant, ProtocolTable
from plantctl.config.reporting import ReportingConfig
from plantctl.config.yamlsrc import ConfigError, ConfigIssue, Loc, LocatedDocument, load_located
from plantctl.points import SYSTEM_PREFIX, is_system_name

M = TypeVar("M", bound=BaseModel)

_SECTIONS = set(PlantConfig.model_fields)
_TAG_FIELDS = set(TagConfig.model_fields) - {"address"}
_LOCAL_TAG = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]{0,63}")
"""A plant file's own tag names (TagName); TagConfig.name is wider for the tags sources announce at run time."""


FIELD_FIXES: dict[str, str] = {
    "password": "put the password in an environment variable and name it with password_env: (never in the file)",
    "username": "name the environment variable holding the user name with username_env:",
    "user": "name the environment variable holding the user name with username_env:",
    "scan_rate": "write scan_period_s: (seconds between reads)",
    "poll_rate": "write scan_period_s: (seconds between reads)",
    "units": "write unit: (one engineering unit, e.g. mg/L)",
    "min": "write range: {low: …, high: …}",
    "max": "write range: {low: …, high: …}",
    "writeable": "write writable:",
    "slave": "write unit_id: (the Modbus unit/slave id)",
    "slave_id": "write unit_id: (the Modbus unit/slave id)",
    "security_mode": "write security: {mode: SignAndEncrypt, policy: Basic256Sha256}",
    "security_policy": "write security: {mode: SignAndEncrypt, policy: Basic256Sha256}",
    "register": "write the modbus: address as {table: holding_register, address: N, type: …}",
}
"""The field an engineer most likely meant, for the unknown fields seen most in the field."""


def _plain(error: Any) -> str:
    kind, msg, loc = error["type"], error["msg"], error["loc"]
    field = loc[-1] if loc else ""
    if kind == "extra_forbidden":
        fix = FIELD_FIXES.get(str(field))
        return f"unknown field {field!r}" + (f": {fix}" if fix else "")
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


def _loop_names(doc: LocatedDocument) -> set[str]:
    """The names the plant file gives its loops (before they are validated)."""
    raw = doc.data.get("loops")
    return {lp["name"] for lp in (raw if isinstance(raw, list) else [])
            if isinstance(lp, dict) and isinstance(lp.get("name"), str)}


def _reserved(doc: LocatedDocument, item: Any, loc: Loc, what: str, issues: list[ConfigIssue]) -> bool:
    """A name in the service's own namespace (SYS.…) is refused: the service's system points live there."""
    name = item.get("name") if isinstance(item, dict) else None
    if not isinstance(name, str) or not is_system_name(name):
        return False
    issues.append(doc.issue((*loc, "name"), f"{what} name {name!r} is in {SYSTEM_PREFIX}, the namespace of the "
                                            f"service's own system points (e.g. {SYSTEM_PREFIX}NOTIFY.EMAIL); "
                                            "choose another name"))
    return True


def _tag_address(
    doc: LocatedDocument, item: dict[str, Any], loc: Loc, protocols: ProtocolTable, issues: list[ConfigIssue]
) -> tuple[str | None, TagAddress | None]:
    """The tag's address from the one key naming a protocol kind (`opcua: {...}`), validated by its model."""
    if "address" in item:
        issues.append(doc.issue((*loc, "address"), "unknown field 'address'; give the address under the source's "
                                                   f"kind, one of: {', '.join(f'{k}:' for k in sorted(protocols))}"))
    keys = [k for k in item if k in protocols]
    if len(keys) != 1:
        unknown = [k for k in item if k not in _TAG_FIELDS and k not in protocols and k != "address"]
        if not keys and not unknown:  # an unknown key is reported by the tag's own validation
            kinds = " or ".join(f"{k}: {{...}}" for k in sorted(protocols)) or "<kind>: {...}"
            issues.append(doc.issue(loc, f"a tag needs exactly one address: {kinds}"))
        elif len(keys) > 1:
            issues.append(doc.issue((*loc, keys[1]), f"a tag needs exactly one address, got {' and '.join(keys)}"))
        return None, None
    kind = keys[0]
    address = validate_section(doc, protocols[kind].address_model, item[kind], (*loc, kind), issues)
    return kind, address


def check_plant(doc: LocatedDocument, protocols: ProtocolTable) -> tuple[PlantConfig | None, list[ConfigIssue]]:
    """Every problem of a plant file at once; `protocols` (kind → schema) comes from connectors/registry.py."""
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

    sources: dict[str, SourceConfigBase] = {}
    for i, item in _items(doc, "sources", issues):
        loc: Loc = ("sources", i)
        kind = item.get("kind") if isinstance(item, dict) else None
        schema = protocols.get(kind) if isinstance(kind, str) else None
        _reserved(doc, item, loc, "source", issues)
        if schema is None:
            issues.append(doc.issue((*loc, "kind"),
                                    f"source kind must be one of {sorted(protocols)}, got {kind!r}"))
            continue
        src = validate_section(doc, schema.source_model, item, loc, issues)
        if src is not None:
            if src.name in sources:
                issues.append(doc.issue((*loc, "name"), f"duplicate source name {src.name!r}"))
            sources[src.name] = src

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
        _reserved(doc, item, loc, "tag", issues)
        kind, address = (None, None) if not isinstance(item, dict) else _tag_address(doc, item, loc, protocols, issues)
        fields = {k: v for k, v in item.items() if k not in protocols} if isinstance(item, dict) else item
        if isinstance(fields, dict):  # the rest of the tag is checked even when its address is wrong
            fields["address"] = address if address is not None else TagAddress()
        tag = validate_section(doc, TagConfig, fields, loc, issues)
        if tag is not None and not _LOCAL_TAG.fullmatch(tag.name):
            issues.append(doc.issue((*loc, "name"), f"tag name {tag.name!r}: a plant file's tag names start with "
                                    "a letter and hold at most 64 letters, digits, _ . - ('/' is kept for the tags "
                                    "a fleet source discovers, <group>/<node>/<tag>)"))
            continue
        if tag is None or address is None:
            continue
        tags[tag.name] = tag
        src = sources.get(tag.source)
        if src is None:
            named = {s.get("name") for _, s in _items(doc, "sources", [])
                     if isinstance(s, dict) and isinstance(s.get("name"), str)}  # a list as name is unhashable
            if tag.source not in named:
                issues.append(doc.issue((*loc, "source"), f"unknown source {tag.source!r}"))
        elif src.kind != kind:
            issues.append(doc.issue((*loc, str(kind)),
                                    f"source {tag.source!r} is {src.kind}: give the tag a {src.kind}: address"))
            del tags[tag.name]

    checked = CheckedPlant(doc, sources, tags, tag_loc)
    for schema in protocols.values():
        for protocol_check in schema.checks:
            issues.extend(protocol_check(checked))

    def ref(loc: Loc, name: Any, what: str = "tag") -> None:
        if isinstance(name, str) and name not in tags and name not in tag_loc:
            issues.append(doc.issue(loc, f"unknown {what} {name!r}"))

    discovering = sorted(n for n, s in sources.items() if protocols[s.kind].discovers_tags)

    def announced_ref(loc: Loc, name: Any) -> None:
        """An alarm may name a tag a discovering source will announce (it has a '/'); others must be in the file."""
        if not (isinstance(name, str) and "/" in name):
            ref(loc, name)
        elif not discovering:
            issues.append(doc.issue(loc, f"unknown tag {name!r}: a tag named with '/' comes from a source that "
                                         "discovers tags (kind sparkplug), and this plant file has none"))

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
            if mv in _loop_names(doc):  # a split-range primary's high side may be a secondary loop's setpoint
                continue
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
            if lock.spare is not None:
                ref((*loc, "interlocks", j, "spare"), lock.spare)
        for k, voted in enumerate(loop.voted_with):
            ref((*loc, "voted_with", k), voted)
        if loop.vote_spare is not None:
            ref((*loc, "vote_spare"), loop.vote_spare)
        loop_loc[loop.name] = loc

    primaries = {lp.cas_source for lp in loops.values()}
    for name, loop in loops.items():
        if not loop.mv and name not in primaries:
            issues.append(doc.issue((*loop_loc[name], "mv"),
                                    "a loop needs output tags (mv:) unless it is another loop's cas_source"))
        for j, mv in enumerate(loop.mv):
            if mv in loops and loops[mv].cas_source != name:
                issues.append(doc.issue((*loop_loc[name], "mv", j),
                                        f"output {mv!r} is a loop: it must name this loop ({name}) as its cas_source"))
        cas = loop.cas_source
        if cas is not None and cas not in tags and cas not in tag_loc and cas not in loops:
            issues.append(doc.issue((*loop_loc[name], "cas_source"), f"unknown tag or loop {cas!r}"))

    for i, item in _items(doc, "diversion", issues):
        loc = ("diversion", i)
        div = validate_section(doc, DiversionConfig, item, loc, issues)
        if div is None:
            continue
        for j, name in enumerate(div.ph):
            if name in loops:  # a loop's voted PV
                if not loops[name].voted_with:
                    issues.append(doc.issue((*loc, "ph", j), f"loop {name!r} has no voted PV (voted_with:) to give"))
                continue
            ref((*loc, "ph", j), name)
        for key in ("valve", "holding_level", "flow"):
            ref((*loc, key), getattr(div, key))
        if div.valve in tags and not tags[div.valve].writable:
            issues.append(doc.issue((*loc, "valve"), f"valve command {div.valve!r} is not writable"))
        if div.return_pump is not None:
            for key in ("sp", "run"):
                name = getattr(div.return_pump, key)
                ref((*loc, "return_pump", key), name)
                if name in tags and not tags[name].writable:
                    issues.append(doc.issue((*loc, "return_pump", key), f"{name!r} is not writable"))

    alarm_names: set[str] = set()
    for i, item in _items(doc, "alarms", issues):
        loc = ("alarms", i)
        _reserved(doc, item, loc, "alarm", issues)
        alarm = validate_section(doc, AlarmConfig, item, loc, issues)
        if alarm is None:
            continue
        if alarm.name in alarm_names:
            issues.append(doc.issue((*loc, "name"), f"duplicate alarm {alarm.name!r}"))
        alarm_names.add(alarm.name)
        announced_ref((*loc, "tag"), alarm.tag)
        if alarm.suppress_when is not None:
            announced_ref((*loc, "suppress_when", "tag"), alarm.suppress_when.tag)
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

    if data.get("process") is not None:
        process = validate_section(doc, ProcessConfig, data["process"], ("process",), issues)
        for i, part in enumerate(process.units if isinstance(process, ProcessConfig) else []):
            for j, name in enumerate(part.instruments):
                ref(("process", "units", i, "instruments", j), name)
            for j, pump in enumerate(part.pumps):
                if not any(t.startswith(f"{pump}.") for t in [*tags, *tag_loc]):
                    issues.append(doc.issue(("process", "units", i, "pumps", j),
                                            f"no tag of pump {pump!r} ({pump}.SPEED, {pump}.RUNNING …)"))

    if data.get("simulation") is not None and not isinstance(data["simulation"], dict):
        issues.append(doc.issue(("simulation",), "simulation must be a mapping"))

    for check in section_checks(doc):
        issues.extend(check(doc))

    if not issues:
        # an empty section (`historian:` with nothing under it) means the defaults, as if absent
        present = {k: v for k, v in data.items() if v is not None}
        present.update(sources=list(sources.values()), tags=list(tags.values()))  # each in its protocol's model
        whole = validate_section(doc, PlantConfig, present, (), issues)
        if whole is not None:
            return whole, []
    return None, sorted(issues, key=lambda i: (i.line or 0, str(i.loc)))


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


def load_plant(path: str | Path, protocols: ProtocolTable) -> PlantConfig:
    """Load a plant file or raise ConfigError listing every problem with its line.

    The service reads plant files through plantctl.plantfile.load_plant, which passes every protocol
    connectors/ registers.
    """
    doc = load_located(path)
    config, issues = check_plant(doc, protocols)
    if config is None:
        raise ConfigError(issues)
    return config


def tag_from(data: Mapping[str, Any], protocols: ProtocolTable) -> TagConfig:
    """One tag written as in a plant file (`opcua: {...}` under its kind), for tools and tests; raises ValueError."""
    kinds = [k for k in data if k in protocols]
    if len(kinds) != 1:
        raise ValueError(f"a tag needs exactly one address under one of {sorted(protocols)}, got {kinds or 'none'}")
    kind = kinds[0]
    address = protocols[kind].address_model.model_validate(data[kind])
    return TagConfig.model_validate({**{k: v for k, v in data.items() if k != kind}, "address": address})
