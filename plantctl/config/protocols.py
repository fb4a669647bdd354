"""What the plant-file loader needs to know of a protocol, without the kernel naming any.

Each protocol package under connectors/ describes itself with a ProtocolSchema (its source model,
its tag address model, its cross-tag checks); the application layer hands the loader the table of
them (connectors/registry.py), so a new protocol never edits the kernel.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from plantctl.config.models import SourceConfigBase, TagAddress, TagConfig
from plantctl.config.yamlsrc import ConfigIssue, Loc, LocatedDocument


@dataclass(frozen=True, slots=True)
class CheckedPlant:
    """The sources and tags the loader validated, with where each tag sits, for a protocol's own checks."""

    doc: LocatedDocument
    sources: Mapping[str, SourceConfigBase]
    tags: Mapping[str, TagConfig]
    tag_loc: Mapping[str, Loc]

    def tags_of_kind(self, kind: str) -> list[tuple[TagConfig, SourceConfigBase]]:
        """Every valid tag whose source is of this kind, with that source."""
        out = []
        for tag in self.tags.values():
            src = self.sources.get(tag.source)
            if src is not None and src.kind == kind:
                out.append((tag, src))
        return out

    def issue(self, tag: str, path: Loc, message: str) -> ConfigIssue:
        """A problem located at a field of a tag's entry (file and line)."""
        return self.doc.issue((*self.tag_loc[tag], *path), message)


PlantCheck = Callable[[CheckedPlant], list[ConfigIssue]]


@dataclass(frozen=True, slots=True)
class ProtocolSchema:
    """A protocol's part of the plant file: `kind:` value, source model, address model (under `<kind>:`), checks."""

    kind: str
    source_model: type[SourceConfigBase]
    address_model: type[TagAddress]
    checks: tuple[PlantCheck, ...] = field(default=())
    discovers_tags: bool = False
    """Its sources announce their tags while running (named with a '/'): alarms may name tags the file does not list."""

    def __post_init__(self) -> None:
        if self.address_model.kind != self.kind:
            raise ValueError(f"{self.address_model.__name__}.kind is {self.address_model.kind!r}, "
                             f"not the protocol's kind {self.kind!r}")


ProtocolTable = Mapping[str, ProtocolSchema]
"""kind → schema, as connectors/registry.py builds it."""
