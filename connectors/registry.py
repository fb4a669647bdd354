"""Source kind name → factory, so the runtime builds sources from the plant file alone."""

from __future__ import annotations

from collections.abc import Callable

from connectors.base import Emit, Source
from connectors.modbus.source import ModbusSource
from connectors.opcua.source import OpcUaSource
from plantctl.config.models import ModbusSourceConfig, OpcUaSourceConfig, PlantConfig, TagConfig

SourceFactory = Callable[[object, list[TagConfig], Emit], Source]


def _modbus(config: object, tags: list[TagConfig], emit: Emit) -> Source:
    assert isinstance(config, ModbusSourceConfig)
    return ModbusSource(config, tags, emit)


def _opcua(config: object, tags: list[TagConfig], emit: Emit) -> Source:
    assert isinstance(config, OpcUaSourceConfig)
    return OpcUaSource(config, tags, emit)


FACTORIES: dict[str, SourceFactory] = {"modbus": _modbus, "opcua": _opcua}


def create_source(config: ModbusSourceConfig | OpcUaSourceConfig, tags: list[TagConfig], emit: Emit) -> Source:
    """Build (not start) the source for one `sources:` entry with the tags that name it."""
    try:
        factory = FACTORIES[config.kind]
    except KeyError:
        raise ValueError(f"no connector for source kind {config.kind!r}; known: {sorted(FACTORIES)}") from None
    return factory(config, [t for t in tags if t.source == config.name], emit)


def create_sources(plant: PlantConfig, emit: Emit) -> list[Source]:
    """Every source of a plant file, each fed its own tags, all emitting into `emit`."""
    return [create_source(s, plant.tags, emit) for s in plant.sources]
