"""The Modbus TCP protocol as the registry sees it: its plant-file schema, its factory, where devices listen."""

from __future__ import annotations

from connectors.base import Connector, Emit, Endpoint, Source
from connectors.modbus.config import SCHEMA, ModbusSourceConfig
from connectors.modbus.source import ModbusSource
from plantctl.config.models import SourceConfigBase, TagConfig


def _create(config: SourceConfigBase, tags: list[TagConfig], emit: Emit) -> Source:
    if not isinstance(config, ModbusSourceConfig):
        raise TypeError(f"source {config.name} is {config.kind}, not modbus")
    return ModbusSource(config, tags, emit)


def _endpoints(config: SourceConfigBase) -> list[Endpoint]:
    assert isinstance(config, ModbusSourceConfig)
    return [Endpoint(config.host, config.port, f"Modbus TCP ({config.name})")]


MODBUS = Connector(SCHEMA, _create, _endpoints)
