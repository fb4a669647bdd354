"""The sparkplug protocol as the registry sees it: a central primary host whose tags are its sites' tags."""

from __future__ import annotations

import os

from connectors.base import Connector, Emit, Endpoint, Source
from connectors.sparkplug.config import SCHEMA, SparkplugSourceConfig
from connectors.sparkplug.source import SparkplugSource
from plantctl.config.models import SourceConfigBase, TagConfig


def _create(config: SourceConfigBase, tags: list[TagConfig], emit: Emit) -> Source:
    if not isinstance(config, SparkplugSourceConfig):
        raise TypeError(f"source {config.name} is {config.kind}, not sparkplug")
    return SparkplugSource.from_config(config, emit, dict(os.environ))


def _endpoints(config: SourceConfigBase) -> list[Endpoint]:
    return []  # the broker is the fleet's, not a device the simulator serves


SPARKPLUG = Connector(SCHEMA, _create, _endpoints)
