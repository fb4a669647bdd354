"""The live table as JSON, encoded once per change and shared by every /live request and new stream."""

from __future__ import annotations

from api.schemas import sample_out
from plantctl.config.models import PlantConfig
from plantctl.runtime.catalogue import TagCatalogue
from plantctl.runtime.live import LiveCache
from plantctl.samples import Sample


class EncodedLive:
    """Each tag's SampleOut JSON kept beside the Sample it encodes; re-encoded only when that Sample changes.

    Without it every GET /live re-validated and re-serialised the whole table (10,000 tags: ~10 ms a
    request); now a request for every tag returns bytes built once per change of the cache.
    """

    def __init__(self, live: LiveCache, config: PlantConfig, tags: TagCatalogue | None = None) -> None:
        self.config = config
        self._live = live
        self._tags = tags if tags is not None else TagCatalogue(config.tags)
        self._units = self._tags.units()
        self._units_version = self._tags.version
        self._fragments: dict[str, tuple[Sample, bytes]] = {}
        self._names: list[str] = []
        self._version = -1
        self._body = b""

    def _refresh(self) -> None:
        version = self._live.version
        if version == self._version:
            return
        if self._units_version != self._tags.version:  # tags announced since (a site's birth)
            self._units, self._units_version = self._tags.units(), self._tags.version
        fragments = self._fragments
        for name, s in self._live.snapshot().items():
            held = fragments.get(name)
            if held is None or held[0] is not s:
                fragments[name] = (s, sample_out(s, self._units.get(name, "")).model_dump_json().encode())
        if len(self._names) != len(fragments):
            self._names = sorted(fragments)
        self._body = _document([fragments[n][1] for n in self._names])
        self._version = version

    def body(self, wanted: set[str] | None) -> bytes:
        """`{"values": [...]}` sorted by tag, for every tag (cached) or the wanted ones."""
        self._refresh()
        if wanted is None:
            return self._body
        return _document(self.fragments(wanted))

    def fragments(self, wanted: set[str] | None) -> list[bytes]:
        """Each (wanted) tag's JSON, sorted by tag."""
        self._refresh()
        fragments = self._fragments
        names = self._names if wanted is None else sorted(n for n in wanted if n in fragments)
        return [fragments[n][1] for n in names]


def _document(fragments: list[bytes]) -> bytes:
    return b'{"values":[' + b",".join(fragments) + b"]}"
