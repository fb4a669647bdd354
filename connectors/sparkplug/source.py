"""The `sparkplug` source of a central service: the primary host as one source, its tags discovered from births.

Live samples leave through the runtime's ``emit`` (live cache, alarms, history); historical ones
(spool replays) through ``emit_history``, which must reach the historian only. Discovered tags go to
``register`` (the assembly stores them, e.g. with the historian's tag table) before any of their
samples leave: samples of a tag not yet registered wait here, in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from connectors.base import Emit, SourceHealth
from connectors.sparkplug.host import DiscoveredTag, SparkplugHost
from plantctl.samples import Sample
from plantctl.writes import WriteOutcome

log = logging.getLogger(__name__)

Register = Callable[[list[DiscoveredTag]], Awaitable[None]]


class SparkplugSource:
    """Read-only towards the sites: a write is refused; the host sends nothing but Rebirth requests."""

    def __init__(self, name: str, host_id: str, groups: Sequence[str], brokers: Sequence[tuple[str, int]],
                 emit: Emit, emit_history: Emit, register: Register, *, allow: Sequence[str] = ("*",),
                 deny: Sequence[str] = (), keepalive_s: int = 10) -> None:
        self._name = name
        self._emit, self._emit_history, self._register = emit, emit_history, register
        self.host = SparkplugHost(host_id, groups, brokers, self, allow=allow, deny=deny, keepalive_s=keepalive_s)
        self.tags: dict[str, DiscoveredTag] = {}
        self._registered: set[str] = set()
        self._held: list[tuple[bool, list[Sample]]] = []  # (historical, batch) waiting for a registration
        self._registering: set[asyncio.Task[None]] = set()
        self._errors = 0
        self._last_error: str | None = None

    @property
    def name(self) -> str:
        return self._name

    async def start(self) -> None:
        await self.host.start()

    async def stop(self) -> None:
        await self.host.stop()
        for task in list(self._registering):
            task.cancel()

    async def write(self, tag: str, value: float) -> WriteOutcome:
        return WriteOutcome.policy(f"{tag} belongs to a site: the central service does not write to sites")

    def health(self) -> SourceHealth:
        last = [n.last_data for n in self.host.nodes.values() if n.last_data is not None]
        return SourceHealth(connected=self.host.connected, last_good_read=max(last) if last else None,
                            error_count=self.host.counters.malformed + self._errors,
                            reconnect_count=0, request_plan_size=len(self.tags), last_error=self._last_error)

    # -- the host's sink --------------------------------------------------------------------
    def tags_born(self, tags: list[DiscoveredTag]) -> None:
        changed = [t for t in tags if self.tags.get(t.name) != t]
        self.tags.update({t.name: t for t in tags})
        if changed:
            task = asyncio.get_running_loop().create_task(self._store_tags(changed))
            self._registering.add(task)
            task.add_done_callback(self._registering.discard)

    async def _store_tags(self, tags: list[DiscoveredTag]) -> None:
        try:
            await self._register(tags)
        except Exception as exc:  # the database may be away: samples stay held, the next birth retries
            self._errors += 1
            self._last_error = f"registering {len(tags)} discovered tags: {exc}"
            log.warning("sparkplug source %s: %s", self._name, self._last_error)
            return
        self._registered.update(t.name for t in tags)
        held, self._held = self._held, []
        for historical, batch in held:
            self._deliver(historical, batch)

    def live(self, samples: list[Sample]) -> None:
        self._deliver(False, samples)

    def history(self, samples: list[Sample]) -> None:
        self._deliver(True, samples)

    def _deliver(self, historical: bool, samples: list[Sample]) -> None:
        if self._held or any(s.tag not in self._registered for s in samples):
            self._held.append((historical, samples))  # keeps order behind an earlier held batch
            return
        (self._emit_history if historical else self._emit)(samples)
