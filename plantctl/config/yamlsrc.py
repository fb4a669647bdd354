"""YAML loading that remembers where every value came from, so errors can name file and line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a config file, located for a human."""

    file: str
    line: int | None
    loc: Loc
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        path = ".".join(str(p) for p in self.loc)
        return f"{where}: {path + ': ' if path else ''}{self.message}"


class ConfigError(Exception):
    """Every problem found in a config file, reported at once."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


@dataclass
class LocatedDocument:
    """Plain Python data parsed from YAML plus the line of every mapping key and list item."""

    file: str
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Loc) -> int | None:
        """Line of the deepest known prefix of `loc` (pydantic locs may point inside a value)."""
        for n in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:n]))
            if line is not None:
                return line
        return None

    def issue(self, loc: Loc, message: str) -> ConfigIssue:
        return ConfigIssue(self.file, self.line_of(loc), loc, message)


def _construct(node: yaml.Node, loc: Loc, doc: LocatedDocument, issues: list[ConfigIssue]) -> Any:
    doc.lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader.construct_scalar(_SCALAR_LOADER, key_node)
            if key in out:
                issues.append(
                    ConfigIssue(doc.file, key_node.start_mark.line + 1, (*loc, key),
                                f"duplicate key {key!r}")
                )
            child = (*loc, key)
            doc.lines[child] = key_node.start_mark.line + 1
            out[key] = _construct(value_node, child, doc, issues)
            doc.lines[child] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*loc, i), doc, issues) for i, item in enumerate(node.value)]
    return _SCALAR_LOADER.construct_object(node, deep=True)


class _ScalarLoader(yaml.SafeLoader):
    def __init__(self) -> None:
        super().__init__("")


_SCALAR_LOADER = _ScalarLoader()
# libyaml's parser when PyYAML was built with it: the same nodes and marks, ~10x faster on a 10,000-tag plant
_COMPOSER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_located(path: str | Path, text: str | None = None) -> LocatedDocument:
    """Parse a YAML file; syntax errors and duplicate keys become a ConfigError with lines."""
    name = str(path)
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError([ConfigIssue(name, None, (), f"cannot read file: {exc.strerror}")]) from exc
        except UnicodeDecodeError as exc:
            raise ConfigError([ConfigIssue(name, None, (), f"not UTF-8 text: {exc.reason}")]) from exc
    doc = LocatedDocument(name, None)
    try:
        node = yaml.compose(text, Loader=_COMPOSER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError([ConfigIssue(name, line, (), f"YAML syntax: {exc.problem}")]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigIssue(name, None, (), f"YAML syntax: {exc}")]) from exc
    if node is None:
        raise ConfigError([ConfigIssue(name, 1, (), "file is empty")])
    issues: list[ConfigIssue] = []
    try:
        doc.data = _construct(node, (), doc, issues)
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigIssue(name, None, (), f"YAML: {exc}")]) from exc
    if issues:
        raise ConfigError(issues)
    return doc
