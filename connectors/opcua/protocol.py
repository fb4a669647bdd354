"""The OPC UA protocol as the registry sees it: its plant-file schema, its factory, where servers listen."""

from __future__ import annotations

from urllib.parse import urlsplit

from connectors.base import Connector, Emit, Endpoint, Source
from connectors.opcua.config import SCHEMA, OpcUaSourceConfig
from connectors.opcua.source import OpcUaSource
from plantctl.config.models import SourceConfigBase, TagConfig


def _create(config: SourceConfigBase, tags: list[TagConfig], emit: Emit) -> Source:
    if not isinstance(config, OpcUaSourceConfig):
        raise TypeError(f"source {config.name} is {config.kind}, not opcua")
    return OpcUaSource(config, tags, emit)


def _endpoints(config: SourceConfigBase) -> list[Endpoint]:
    assert isinstance(config, OpcUaSourceConfig)
    parts = urlsplit(config.endpoint)
    return [Endpoint(parts.hostname or "127.0.0.1", parts.port or 4840, f"OPC UA ({config.name})")]


OPCUA = Connector(SCHEMA, _create, _endpoints)
