"""The contract every protocol source fulfils, so the runtime treats Modbus and OPC UA alike.

Lifecycle as in an OpenTelemetry Collector component: ``start()`` returns fast and the work runs
in tasks the source owns; ``stop()`` cancels and awaits every one of them. Samples leave as
batches through an ``emit`` callback the runtime passes at construction; ``emit`` must never
block (the runtime puts the batch on its own bounded queues), so a slow consumer can never stall
acquisition.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from plantctl.config.models import SourceConfigBase, TagConfig
from plantctl.config.protocols import ProtocolSchema
from plantctl.samples import Sample
from plantctl.writes import WriteOutcome

Emit = Callable[[list[Sample]], None]
"""Receives one batch of samples; called from the event loop, must return at once."""


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """Link state for the status page; times are aware UTC."""

    connected: bool
    last_good_read: datetime | None
    error_count: int
    reconnect_count: int
    request_plan_size: int
    last_error: str | None
    last_error_at: datetime | None = None
    """When the last error happened; kept as history after last_error clears on recovery."""
    requests: int = 0
    timeouts: int = 0
    exceptions: dict[str, int] = field(default_factory=dict)
    """Device refusals of reads by code (Modbus exception number, OPC UA status name)."""
    round_trip_mean_ms: float | None = None
    round_trip_p99_ms: float | None = None


@runtime_checkable
class Source(Protocol):
    """One connection to one device (or gateway) that turns its tags into samples."""

    @property
    def name(self) -> str: ...

    async def start(self) -> None:
        """Launch the acquisition tasks and return at once; connection happens in the background."""
        ...

    async def stop(self) -> None:
        """Cancel and await every task, close the link."""
        ...

    async def write(self, tag: str, value: float) -> WriteOutcome:
        """Write one engineering value through the device's single write path and read it back.

        Never raises for a plant-side failure: link, timeout and device refusals are outcomes.
        """
        ...

    def health(self) -> SourceHealth: ...

    def route_heartbeat(self, write: Callable[[str, float], Awaitable[WriteOutcome]]) -> None:
        """Send the heartbeat through `write` (the runtime's write gate, heartbeat origin); call before start()."""
        ...


@dataclass(frozen=True, slots=True)
class SiteStatus:
    """One remote site (edge node) as a fleet source sees it; times aware UTC, rates over the last few seconds."""

    site: str
    """The prefix of its tags' names, e.g. recyclers/site-a."""
    source: str
    online: bool
    since: datetime | None
    last_birth: datetime | None
    last_data: datetime | None
    messages_per_s: float
    values_per_s: float
    historical_per_s: float
    """Backlog the site is replaying (its spool, sent as history) per second."""
    live_values: int
    historical_values: int
    tags: int
    births: int
    deaths: int
    seq_gaps: int
    rebirths_requested: int


@runtime_checkable
class FleetSource(Protocol):
    """A source whose tags belong to remote sites: it reports each site's link for the API's fleet view."""

    def sites(self) -> list[SiteStatus]: ...


Announce = Callable[[list[TagConfig]], None]
"""Takes tags a source learned at run time (name, unit, range, description); returns at once."""


@runtime_checkable
class DiscoveringSource(Protocol):
    """A source whose tags are not in the plant file but announced while it runs (a fleet host learns its sites'
    tags from their births). The runtime routes both channels before start(); a source announces each tag before
    its first sample, and sends samples that are history only (replayed backlog) through `history`, never `emit`.
    """

    def route_discovery(self, announce: Announce, history: Emit) -> None: ...


SourceFactory = Callable[[SourceConfigBase, list[TagConfig], Emit], Source]
"""Builds (not starts) a source from its `sources:` entry and the tags that name it."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a device of a source listens: what the simulator would serve, so the port check can ask for it."""

    host: str
    port: int
    what: str


@dataclass(frozen=True, slots=True)
class Connector:
    """Everything of one protocol the rest of plantctl may ask for; one per package under connectors/."""

    schema: ProtocolSchema
    create: SourceFactory
    endpoints: Callable[[SourceConfigBase], list[Endpoint]]

    @property
    def kind(self) -> str:
        return self.schema.kind


def refuse_locally(tag: TagConfig | None, tag_name: str, value: float) -> str | None:
    """Why a write must not leave this process (unknown, read-only, out of range), or None."""
    if tag is None:
        return f"unknown tag {tag_name!r} on this source"
    if not tag.writable:
        return f"tag {tag_name!r} is not writable"
    if not math.isfinite(value):
        return f"value {value!r} for {tag_name} is not a finite number"
    if not tag.range.low <= value <= tag.range.high:
        return (
            f"value {value:g} {tag.unit} for {tag_name} is outside its range "
            f"[{tag.range.low:g}, {tag.range.high:g}] {tag.unit}; refused before sending"
        )
    return None
