"""Every tag the service knows: the plant file's, and those its sources announce while running (a fleet's sites)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from plantctl.config.models import TagConfig


class TagCatalogue:
    """The tag list the API, live values and trends ask; announced tags join it, never replace a plant-file tag."""

    def __init__(self, tags: Iterable[TagConfig]) -> None:
        self._tags: dict[str, TagConfig] = {t.name: t for t in tags}
        self._local = frozenset(self._tags)
        self.owners: dict[str, str] = {t.name: t.source for t in self._tags.values()}
        """tag → source, updated in place as tags are announced (the acquisition meter holds this very dict)."""
        self.version = 0  # grows on every change, so readers rebuild their unit tables only then

    def announce(self, tags: Iterable[TagConfig]) -> list[TagConfig]:
        """Add or update announced tags (a rebirth may change a unit or range); returns the ones kept."""
        kept = [t for t in tags if t.name not in self._local]
        for t in kept:
            self._tags[t.name] = t
            self.owners[t.name] = t.source
        if kept:
            self.version += 1
        return kept

    def get(self, name: str) -> TagConfig | None:
        return self._tags.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._tags

    def __iter__(self) -> Iterator[TagConfig]:
        return iter(list(self._tags.values()))

    def __len__(self) -> int:
        return len(self._tags)

    def units(self) -> dict[str, str]:
        return {name: t.unit for name, t in self._tags.items()}
