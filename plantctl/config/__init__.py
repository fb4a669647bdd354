"""Plant configuration: one YAML file describes sources, tags, loops, alarms and the simulated plant."""

from plantctl.config.load import SECTION_CHECKS, check_plant, load_plant, validate_section
from plantctl.config.models import PlantConfig, TagConfig
from plantctl.config.yamlsrc import ConfigError, ConfigIssue, LocatedDocument, load_located

__all__ = [
    "SECTION_CHECKS",
    "ConfigError",
    "ConfigIssue",
    "LocatedDocument",
    "PlantConfig",
    "TagConfig",
    "check_plant",
    "load_located",
    "load_plant",
    "validate_section",
]
