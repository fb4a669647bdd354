"""Source kind → protocol: the one place that lists the protocols; the loader and the runtime ask it.

A new protocol is a package under connectors/ exposing a Connector, plus its line below.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from connectors.base import Connector, Emit, Endpoint, Source
from connectors.modbus.protocol import MODBUS
from connectors.opcua.protocol import OPCUA
from connectors.sparkplug.protocol import SPARKPLUG
from plantctl.config.models import PlantConfig, SourceConfigBase, TagConfig
from plantctl.config.protocols import ProtocolSchema


def by_kind(connectors: Iterable[Connector]) -> dict[str, Connector]:
    """The table keyed by source kind; two protocols claiming one kind is a programming error."""
    table: dict[str, Connector] = {}
    for connector in connectors:
        if connector.kind in table:
            raise ValueError(f"two protocols claim source kind {connector.kind!r}")
        table[connector.kind] = connector
    return table


CONNECTORS: Mapping[str, Connector] = by_kind([
    MODBUS,
    OPCUA,
    SPARKPLUG,
])


def schemas(connectors: Mapping[str, Connector] = CONNECTORS) -> dict[str, ProtocolSchema]:
    """What the plant-file loader needs of each protocol."""
    return {kind: c.schema for kind, c in connectors.items()}


def connector_for(config: SourceConfigBase, connectors: Mapping[str, Connector] = CONNECTORS) -> Connector:
    try:
        return connectors[config.kind]
    except KeyError:
        raise ValueError(f"no connector for source kind {config.kind!r}; known: {sorted(connectors)}") from None


def create_source(
    config: SourceConfigBase, tags: list[TagConfig], emit: Emit, connectors: Mapping[str, Connector] = CONNECTORS
) -> Source:
    """Build (not start) the source for one `sources:` entry with the tags that name it."""
    return connector_for(config, connectors).create(config, [t for t in tags if t.source == config.name], emit)


def create_sources(plant: PlantConfig, emit: Emit, connectors: Mapping[str, Connector] = CONNECTORS) -> list[Source]:
    """Every source of a plant file, each fed its own tags, all emitting into `emit`."""
    return [create_source(s, plant.tags, emit, connectors) for s in plant.sources]


def listen_endpoints(plant: PlantConfig, connectors: Mapping[str, Connector] = CONNECTORS) -> list[Endpoint]:
    """Where each source's device listens (host, port), as its protocol says."""
    return [e for s in plant.sources for e in connector_for(s, connectors).endpoints(s)]
