"""Plant configuration: one YAML file describes sources, tags, loops, alarms and the simulated plant.

The kernel's part: protocol-neutral models and checks. Read plant files with plantctl.plantfile.load_plant,
which adds every protocol connectors/ registers.
"""

from plantctl.config.load import SECTION_CHECKS, validate_section
from plantctl.config.models import PlantConfig, TagConfig
from plantctl.config.yamlsrc import ConfigError, ConfigIssue, LocatedDocument, load_located

__all__ = [
    "SECTION_CHECKS",
    "ConfigError",
    "ConfigIssue",
    "LocatedDocument",
    "PlantConfig",
    "TagConfig",
    "load_located",
    "validate_section",
]
