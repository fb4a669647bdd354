"""The last value and quality of every tag, for faceplates, loops and the live API."""

from __future__ import annotations

from plantctl.samples import Sample


class LiveCache:
    """Keeps the newest sample per tag; an older sample arriving late never overwrites a newer one."""

    def __init__(self) -> None:
        self._last: dict[str, Sample] = {}
        self.version = 0  # grows whenever a sample is kept, so readers re-encode only after a change

    def update(self, batch: list[Sample]) -> None:
        last = self._last
        kept = False
        for s in batch:
            prev = last.get(s.tag)
            if prev is None or s.ts >= prev.ts:
                last[s.tag] = s
                kept = True
        if kept:
            self.version += 1

    def get(self, tag: str) -> Sample | None:
        return self._last.get(tag)

    def snapshot(self, tags: set[str] | None = None) -> dict[str, Sample]:
        if tags is None:
            return dict(self._last)
        return {t: s for t, s in self._last.items() if t in tags}
