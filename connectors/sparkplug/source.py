"""The `sparkplug` source of a central service: the primary host as one source, its tags discovered from births.

A DiscoveringSource (connectors.base): each birth's tags are announced to the runtime (live cache's tag list,
historian's tag table with unit and range, API) before any of their samples leave; live samples go through
``emit`` (live values, alarms, history), spool replays (is_historical) through the history channel only.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable, Sequence

from pydantic import ValidationError

from connectors.base import Announce, Emit, SiteStatus, SourceHealth
from connectors.sparkplug.config import SparkplugAddress, SparkplugSourceConfig
from connectors.sparkplug.host import DiscoveredTag, SparkplugHost
from plantctl.config.models import EngineeringRange, TagConfig
from plantctl.config.uplink import broker_address
from plantctl.samples import Sample
from plantctl.writes import WriteOutcome

log = logging.getLogger(__name__)

NO_UNIT = "unspecified"
"""The unit of a metric whose birth gives no engUnit (every tag carries a unit; this one says it is not known)."""


class SparkplugSource:
    """Read-only towards the sites: a write is refused; the host sends nothing but Rebirth requests."""

    def __init__(self, name: str, host_id: str, groups: Sequence[str], brokers: Sequence[tuple[str, int]],
                 emit: Emit, *, allow: Sequence[str] = ("*",), deny: Sequence[str] = (), keepalive_s: int = 10,
                 username: str | None = None, password: str | None = None) -> None:
        self._name = name
        self._emit = emit
        self._announce: Announce | None = None
        self._history: Emit | None = None
        self.host = SparkplugHost(host_id, groups, brokers, self, allow=allow, deny=deny, keepalive_s=keepalive_s,
                                  username=username, password=password)
        self.tags: dict[str, TagConfig] = {}
        self._refused: set[str] = set()  # names no TagConfig can carry: their samples are dropped, counted
        self.dropped_history = 0
        self.dropped_unnamed = 0
        self._errors = 0
        self._last_error: str | None = None

    @classmethod
    def from_config(cls, config: SparkplugSourceConfig, emit: Emit, env: dict[str, str]) -> SparkplugSource:
        """As the plant file's `sources:` entry says; credentials from the environment variables it names."""
        brokers = [broker_address(u)[:2] for u in config.brokers]
        return cls(config.name, config.host_id, config.groups, brokers, emit, allow=config.allow, deny=config.deny,
                   keepalive_s=config.keepalive_s,
                   username=env.get(config.username_env) if config.username_env else None,
                   password=env.get(config.password_env) if config.password_env else None)

    @property
    def name(self) -> str:
        return self._name

    def route_discovery(self, announce: Announce, history: Emit) -> None:
        self._announce, self._history = announce, history

    def route_heartbeat(self, write: Callable[[str, float], Awaitable[WriteOutcome]]) -> None:
        """No heartbeat: the central service writes nothing to the sites (the schema refuses heartbeat_tag)."""

    async def start(self) -> None:
        await self.host.start()

    async def stop(self) -> None:
        await self.host.stop()

    async def write(self, tag: str, value: float) -> WriteOutcome:
        return WriteOutcome.policy(f"{tag} belongs to a site: the central service does not write to sites")

    def health(self) -> SourceHealth:
        last = [n.last_data for n in self.host.nodes.values() if n.last_data is not None]
        return SourceHealth(connected=self.host.connected, last_good_read=max(last) if last else None,
                            error_count=self.host.counters.malformed + self._errors,
                            reconnect_count=0, request_plan_size=len(self.tags), last_error=self._last_error)

    def sites(self) -> list[SiteStatus]:
        """Every edge node seen, as the Fleet page shows it."""
        out = []
        for (group, node), st in sorted(self.host.nodes.items()):
            messages, live, historical = st.rates()
            out.append(SiteStatus(
                site=f"{group}/{node}", source=self._name, online=st.online, since=st.since,
                last_birth=st.last_birth, last_data=st.last_data, messages_per_s=messages, values_per_s=live,
                historical_per_s=historical, live_values=st.live_values, historical_values=st.historical_values,
                tags=len(st.names), births=st.births, deaths=st.deaths, seq_gaps=st.seq_gaps,
                rebirths_requested=st.rebirths_requested))
        return out

    # -- the host's sink --------------------------------------------------------------------
    def tags_born(self, tags: list[DiscoveredTag]) -> None:
        changed: list[TagConfig] = []
        for t in tags:
            try:
                cfg = self._tag_config(t)
            except ValidationError as exc:
                if t.name not in self._refused:
                    self._errors += 1
                    self._last_error = f"metric {t.name!r} cannot be a tag: {exc.errors()[0]['msg']}"
                    log.warning("sparkplug source %s: %s; its values are dropped", self._name, self._last_error)
                self._refused.add(t.name)
                continue
            self._refused.discard(t.name)
            if self.tags.get(cfg.name) != cfg:
                changed.append(cfg)
                self.tags[cfg.name] = cfg
        if changed and self._announce is not None:
            self._announce(changed)

    def _tag_config(self, t: DiscoveredTag) -> TagConfig:
        group, node, metric = t.name.split("/", 2)
        low = t.low if t.low > -sys.float_info.max else -sys.float_info.max
        high = t.high if t.high < sys.float_info.max else sys.float_info.max
        if not low < high:
            low, high = -sys.float_info.max, sys.float_info.max
        return TagConfig(name=t.name, description=t.description, unit=t.unit or NO_UNIT,
                         range=EngineeringRange(low=low, high=high), source=self._name,
                         address=SparkplugAddress(group=group, node=node, metric=metric))

    def live(self, samples: list[Sample]) -> None:
        kept = self._known(samples)
        if kept:
            self._emit(kept)

    def history(self, samples: list[Sample]) -> None:
        kept = self._known(samples)
        if not kept:
            return
        if self._history is None:  # never routed: history must not reach live values or alarms
            self.dropped_history += len(kept)
            return
        self._history(kept)

    def _known(self, samples: list[Sample]) -> list[Sample]:
        if not self._refused:
            return samples
        kept = [s for s in samples if s.tag not in self._refused]
        self.dropped_unnamed += len(samples) - len(kept)
        return kept
