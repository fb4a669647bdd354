"""The running plant service: sources → bus → historian, live cache and later alarms and loops."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from connectors.base import DiscoveringSource, Source, SourceHealth
from connectors.registry import create_sources
from control.loop import Loop
from plantctl.alarms.service import AlarmService
from plantctl.audit import AuditTrail
from plantctl.config.models import PlantConfig, TagConfig
from plantctl.runtime.bus import SampleBus, Tap
from plantctl.runtime.catalogue import TagCatalogue
from plantctl.runtime.live import LiveCache
from plantctl.runtime.write_gate import Origin, WriteGate
from plantctl.samples import Sample
from plantctl.writes import WriteOutcome

if TYPE_CHECKING:
    from plantctl.notify.service import Notifier

log = logging.getLogger(__name__)


class HistorianSink(Protocol):
    """What the runtime needs of the historian: a submit that never blocks, and a lifecycle."""

    async def start(self) -> None: ...

    def submit(self, batch: Sequence[Sample]) -> object: ...

    async def stop(self) -> None: ...

    def stats(self) -> object: ...

    def add_tags(self, tags: Sequence[TagConfig]) -> None: ...


class Component(Protocol):
    """Anything the runtime starts after the historian and stops before it (alarms, loops, journals)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class PlantRuntime:
    """Owns every component of one plant's service; start() returns fast, stop() awaits everything."""

    def __init__(self, config: PlantConfig, *, state_dir: Path, historian: HistorianSink | None = None,
                 sources: dict[str, Source] | None = None) -> None:
        self.config = config
        self.state_dir = state_dir
        self.bus = SampleBus()
        self.live = LiveCache()
        self.tags = TagCatalogue(config.tags)  # the plant file's tags and those sources announce while running
        self.bus.add_tap("live", self.live.update)
        self.historian = historian
        if historian is not None:
            self.bus.add_tap("historian", historian.submit)
        if sources is None:
            sources = {s.name: s for s in create_sources(config, self.bus.publish)}
        self.sources: dict[str, Source] = sources
        self._owner = {t.name: t.source for t in config.tags}
        self._components: list[tuple[str, Component]] = []
        self.alarms: AlarmService | None = None
        self.loops: Mapping[str, Loop] | None = None
        self.gate = WriteGate(config, self.sources, lambda: self.loops, last_value=self._last_value)
        for name, source in self.sources.items():  # the heartbeat, too, writes through the one gate
            source.route_heartbeat(self.gate.heartbeat_writer(name))
            if isinstance(source, DiscoveringSource):
                source.route_discovery(self.announce, self._history_only)
        self.simulator: object | None = None
        self.notifier: Notifier | None = None
        self.started = False

    def add_component(self, name: str, component: Component, tap: Tap | None = None) -> None:
        """Started in the order added (after the historian, before the sources), stopped in reverse."""
        self._components.append((name, component))
        if tap is not None:
            self.bus.add_tap(name, tap)

    async def start(self) -> None:
        if self.historian is not None:
            await self.historian.start()
        for _name, component in self._components:
            await component.start()
        for source in self.sources.values():
            await source.start()
        self.started = True
        log.info("runtime started: %d sources, %d tags", len(self.sources), len(self._owner))

    async def stop(self) -> None:
        for source in self.sources.values():
            try:
                await source.stop()
            except Exception:
                log.exception("source %s did not stop cleanly", source.name)
        for name, component in reversed(self._components):
            try:
                await component.stop()
            except Exception:
                log.exception("%s did not stop cleanly", name)
        if self.historian is not None:
            await self.historian.stop()  # flushes what the bus handed it
        self.started = False

    def announce(self, tags: list[TagConfig]) -> None:
        """Tags a source learned while running join the catalogue (API, live, trends) and the historian's table."""
        kept = self.tags.announce(tags)
        refused = len(tags) - len(kept)
        if refused:
            log.warning("%d announced tags share a name with a plant-file tag and were ignored", refused)
        if kept and self.historian is not None:
            self.historian.add_tags(kept)

    def _history_only(self, batch: list[Sample]) -> None:
        """Backlog a source replays: stored, never shown live nor judged by alarms or loops."""
        if self.historian is not None:
            self.historian.submit(batch)

    def _last_value(self, tag: str) -> float | None:
        last = self.live.get(tag)
        return None if last is None or last.value != last.value else last.value

    @property
    def audit(self) -> AuditTrail | None:
        """The service's one audit writer (operator writes through the gate, alarm actions, API actions)."""
        return self.gate.audit

    @audit.setter
    def audit(self, trail: AuditTrail | None) -> None:
        self.gate.audit = trail

    async def write(self, tag: str, value: float, origin: Origin) -> WriteOutcome:
        """The one path by which anything in the service writes to the plant: the write gate."""
        return await self.gate.write(tag, value, origin)

    def source_health(self) -> dict[str, SourceHealth]:
        return {name: s.health() for name, s in self.sources.items()}

    def ready(self) -> bool:
        return self.started and all(h.connected for h in self.source_health().values())

