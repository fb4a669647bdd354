"""Build the sources of a plant through the connectors' registry (kind name → factory)."""

from __future__ import annotations

from connectors.base import Emit, Source
from connectors.registry import create_source
from plantctl.config.models import PlantConfig


def build_sources(config: PlantConfig, emit: Emit) -> dict[str, Source]:
    return {cfg.name: create_source(cfg, config.tags, emit) for cfg in config.sources}
