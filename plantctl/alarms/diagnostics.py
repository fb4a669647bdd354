"""The service's diagnostic range alarms, declared on the system-points seam like every other `SYS.` alarm.

Every plant tag gets `SYS.RANGE.<tag>` (priority 4) unless the plant file declares a `type: range` alarm for it: a
wrong decoding (scaling, byte/word order, data type, register numbering) is seen by the operator, not only as a
quality. They watch the plant tags' own samples, so they are `diagnostics`, not alarms on a system point.
"""

from __future__ import annotations

from plantctl.alarms.conditions import range_alarm
from plantctl.config.models import AlarmType, PlantConfig
from plantctl.points import SystemPoints, is_system_name


def declare(plant: PlantConfig) -> SystemPoints:
    """A range alarm on each plant-file tag that has no declared one (the system points get none)."""
    declared = {a.tag for a in plant.alarms if a.type is AlarmType.RANGE}
    return SystemPoints(diagnostics=tuple(range_alarm(t) for t in plant.tags
                                          if t.name not in declared and not is_system_name(t.name)))
