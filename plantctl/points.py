"""System points: states the service itself knows (a notification channel failing, an electrode vote lost) as tags.

A subsystem declares its points — each a tag (name, unit, range, decimals as every tag) and ordinary
`AlarmConfig`s on it — with `SystemPoints`; the assembly adds every subsystem's declaration to the plant
(`with_system_points`) before it builds the alarm engine, live cache, historian and API, so the points are
trended, historised, alarmed, acknowledged and shown like plant tags with no plant-file line. The subsystem
then publishes samples through the bus with a `PointPublisher`. A subsystem that diagnoses the plant's own samples
(the range alarms) declares `diagnostics`: alarms on plant tags, named in `SYS.` all the same. Names live in the
`SYS.` namespace, which a plant file may not use, so they never collide with the plant's own (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from plantctl.config.models import AlarmConfig, EngineeringRange, PlantConfig, TagAddress, TagConfig
from plantctl.quality import Quality
from plantctl.samples import Sample

SYSTEM_PREFIX = "SYS."
"""Every system point, system alarm and publisher name starts with this; plant files may not."""

REFRESH_S = 60.0
"""An unchanged point is published again this often, so its trend and live value show it is alive."""

Publish = Callable[[list[Sample]], object]
"""Where samples go: the runtime's `SampleBus.publish` (or, in a test without a bus, the alarm service's tap)."""


def is_system_name(name: str) -> bool:
    """A name in the reserved namespace (any case: `sys.x` would read as the service's own in the panel)."""
    return name[: len(SYSTEM_PREFIX)].upper() == SYSTEM_PREFIX


class SystemAddress(TagAddress):
    """A system point's address: the subsystem of the service that publishes it — no source, no device."""

    kind: ClassVar[str] = "system"
    publisher: str


def system_tag(subsystem: str, point: str, *, description: str, unit: str, low: float, high: float,
               decimals: int | None = None) -> TagConfig:
    """The tag `SYS.<SUBSYSTEM>.<point>`, its `source` the publishing subsystem (`SYS.<SUBSYSTEM>`); never writable."""
    publisher = f"{SYSTEM_PREFIX}{subsystem.upper()}"
    return TagConfig(name=f"{publisher}.{point}", description=description, unit=unit,
                     range=EngineeringRange(low=low, high=high), source=publisher,
                     address=SystemAddress(publisher=subsystem), scan_period_s=REFRESH_S, writable=False,
                     decimals=decimals)


@dataclass(frozen=True, slots=True)
class SystemPoints:
    """One subsystem's declaration: the tags it publishes and the alarms on them, and its diagnostic alarms on
    the plant file's tags (every name in `SYS.`)."""

    tags: tuple[TagConfig, ...] = ()
    alarms: tuple[AlarmConfig, ...] = ()
    diagnostics: tuple[AlarmConfig, ...] = ()


Declare = Callable[[PlantConfig], SystemPoints]
"""What a subsystem gives the assembly: its points for this plant (none when the plant does not use it)."""


def with_system_points(plant: PlantConfig, declared: Iterable[SystemPoints]) -> PlantConfig:
    """The plant with every declared point and alarm added; ValueError on a name outside `SYS.` or taken twice."""
    tags = {t.name: t for t in plant.tags}
    plant_tags = frozenset(name for name in tags if not is_system_name(name))
    alarms = {a.name for a in plant.alarms}
    new_tags: list[TagConfig] = []
    new_alarms: list[AlarmConfig] = []

    def add_alarm(alarm: AlarmConfig, on_plant_tag: bool) -> None:
        if not is_system_name(alarm.name):
            raise ValueError(f"system alarm {alarm.name!r} is not in {SYSTEM_PREFIX}")
        if alarm.name in alarms:
            raise ValueError(f"system alarm {alarm.name!r} is declared twice")
        if on_plant_tag and alarm.tag not in plant_tags:
            raise ValueError(f"diagnostic alarm {alarm.name!r} is on {alarm.tag!r}, which is no plant tag")
        if not on_plant_tag and (alarm.tag not in tags or not is_system_name(alarm.tag)):
            raise ValueError(f"system alarm {alarm.name!r} is on {alarm.tag!r}, which is no declared system point")
        alarms.add(alarm.name)
        new_alarms.append(alarm)

    for points in declared:
        for tag in points.tags:
            if not is_system_name(tag.name) or not is_system_name(tag.source):
                raise ValueError(f"system point {tag.name!r} (source {tag.source!r}) is not in {SYSTEM_PREFIX}")
            if tag.writable:
                raise ValueError(f"system point {tag.name!r} is writable: nothing writes to the service's own state")
            if tag.name in tags:
                raise ValueError(f"system point {tag.name!r} is declared twice")
            tags[tag.name] = tag
            new_tags.append(tag)
        for alarm in points.alarms:
            add_alarm(alarm, on_plant_tag=False)
        for alarm in points.diagnostics:
            add_alarm(alarm, on_plant_tag=True)
    if not new_tags and not new_alarms:
        return plant
    return plant.model_copy(update={"tags": [*plant.tags, *new_tags], "alarms": [*plant.alarms, *new_alarms]})


class PointPublisher:
    """Publishes a subsystem's points: at once on a change, else again every `refresh_s`; UTC-aware, with quality."""

    def __init__(self, publish: Publish, points: SystemPoints | Sequence[TagConfig],
                 refresh_s: float = REFRESH_S) -> None:
        tags = points.tags if isinstance(points, SystemPoints) else tuple(points)
        self._publish = publish
        self._refresh = timedelta(seconds=refresh_s)
        self._last: dict[str, tuple[float, Quality, datetime]] = {}
        self.names = frozenset(t.name for t in tags)
        self.published = 0

    def set(self, name: str, value: float, ts: datetime, quality: Quality = Quality.GOOD, reason: str = "") -> bool:
        """Publish the point's state now if it changed or is due for its refresh; returns whether it was published."""
        if name not in self.names:
            raise KeyError(f"{name!r} is not one of this publisher's system points")
        last = self._last.get(name)
        if last is not None and last[0] == value and last[1] == quality and ts - last[2] < self._refresh:
            return False
        self._publish([Sample(name, ts, value, quality, reason)])  # Sample refuses a naive timestamp
        self._last[name] = (value, quality, ts)
        self.published += 1
        return True

    def value(self, name: str) -> float | None:
        """The last value published for the point (None before the first)."""
        last = self._last.get(name)
        return None if last is None else last[0]
