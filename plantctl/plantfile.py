"""The plant file as the service reads it: the kernel's checks with every protocol connectors/ registers.

Application layer: the kernel (plantctl.config) names no protocol; this is where the two meet.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from connectors.registry import schemas
from plantctl.config import load
from plantctl.config.models import PlantConfig, TagConfig
from plantctl.config.yamlsrc import ConfigError, ConfigIssue, LocatedDocument


def check_plant(doc: LocatedDocument) -> tuple[PlantConfig | None, list[ConfigIssue]]:
    """Every problem of a located plant file, each with file and line."""
    return load.check_plant(doc, schemas())


def load_plant(path: str | Path) -> PlantConfig:
    """Load a plant file or raise ConfigError listing every problem with its line."""
    return load.load_plant(path, schemas())


def tag_config(data: Mapping[str, Any]) -> TagConfig:
    """One tag as a plant file writes it (`modbus: {...}` / `opcua: {...}`), for tools, benches and tests."""
    return load.tag_from(data, schemas())


def plant_config(data: Mapping[str, Any], name: str = "<plant mapping>") -> PlantConfig:
    """A plant given as a mapping in plant-file shape (tools, tests), checked as a file is; raises ConfigError."""
    config, issues = check_plant(LocatedDocument(name, dict(data)))
    if config is None:
        raise ConfigError(issues)
    return config
