"""A small registry from source kind to the connector that implements it."""

from __future__ import annotations

from pathlib import Path

from connectors.base import Emit, Source
from plantctl.config.models import ModbusSourceConfig, OpcUaSourceConfig, TagConfig


def build_source(config: OpcUaSourceConfig | ModbusSourceConfig, tags: list[TagConfig], emit: Emit, *,
                 state_dir: Path) -> Source:
    if isinstance(config, ModbusSourceConfig):
        from connectors.modbus.source import ModbusSource

        return ModbusSource(config, tags, emit)
    from connectors.opcua.source import OpcUaSource  # type: ignore[import-not-found,unused-ignore]

    source: Source = OpcUaSource(config, tags, emit, pki_dir=state_dir / "pki" / config.name)
    return source
