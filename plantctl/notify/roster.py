"""Who is on call: rotations and overrides evaluated in the plant's local time (handover by the wall clock)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from plantctl.config.notifications import NotificationsConfig, OverrideConfig, RotationConfig


@dataclass(frozen=True, slots=True)
class Shift:
    """One stretch of on-call duty, in UTC."""

    rotation: str
    person: str
    start: datetime
    end: datetime
    override: bool = False
    reason: str = ""


def _local_naive(when: datetime, zone: ZoneInfo) -> datetime:
    if when.tzinfo is None:
        raise ValueError("roster times must be timezone-aware")
    return when.astimezone(zone).replace(tzinfo=None)


def _to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """A wall-clock time in the plant's zone as UTC (an ambiguous hour takes its first occurrence)."""
    if local.tzinfo is not None:
        return local.astimezone(UTC)
    return local.replace(tzinfo=zone).astimezone(UTC)


def _rotation_shift(rot: RotationConfig, when: datetime, zone: ZoneInfo) -> Shift:
    """The regular shift of a rotation at `when`: counted in wall-clock periods from the first handover."""
    anchor = datetime.combine(rot.start, rot.handover_time)
    period = timedelta(days=rot.period_days)
    n = (_local_naive(when, zone) - anchor) // period
    start = anchor + n * period
    person = rot.people[n % len(rot.people)]
    return Shift(rot.name, person, _to_utc(start, zone), _to_utc(start + period, zone))


def _override_at(overrides: list[OverrideConfig], rotation: str, when: datetime, zone: ZoneInfo) -> Shift | None:
    for o in overrides:
        if o.rotation == rotation:
            start, end = _to_utc(o.start, zone), _to_utc(o.end, zone)
            if start <= when < end:
                return Shift(rotation, o.person, start, end, override=True, reason=o.reason)
    return None


class Roster:
    """Resolves rotations, groups and people to the people to page at a moment."""

    def __init__(self, cfg: NotificationsConfig) -> None:
        self.cfg = cfg
        self.zone = cfg.zone
        self._rotations = {r.name: r for r in cfg.rotations}
        self.panel_overrides: list[OverrideConfig] = []  # made in the panel; they win over the plant file's

    @property
    def overrides(self) -> list[OverrideConfig]:
        return [*self.panel_overrides, *self.cfg.overrides]

    def on_call(self, rotation: str, when: datetime) -> Shift:
        return _override_at(self.overrides, rotation, when, self.zone) or \
            _rotation_shift(self._rotations[rotation], when, self.zone)

    def resolve(self, targets: list[str], when: datetime) -> list[str]:
        """People named by step targets (rotation:X, person:X, group:X) at `when`, each once, in order."""
        out: list[str] = []
        for target in targets:
            kind, name = target.split(":", 1)
            if kind == "rotation":
                names = [self.on_call(name, when).person]
            elif kind == "group":
                names = list(self.cfg.groups[name])
            else:
                names = [name]
            out.extend(n for n in names if n not in out)
        return out

    def schedule(self, rotation: str, start: datetime, end: datetime) -> list[Shift]:
        """The shifts of a rotation between start and end, overrides cut in."""
        shifts: list[Shift] = []
        t = start
        while t < end and len(shifts) < 500:
            s = self.on_call(rotation, t)
            if not s.override:  # a regular shift may be cut short by an override starting inside it
                nxt = min((_to_utc(o.start, self.zone) for o in self.overrides
                           if o.rotation == rotation and t < _to_utc(o.start, self.zone) < s.end), default=s.end)
                s = Shift(s.rotation, s.person, max(s.start, t) if shifts else s.start, nxt)
            shifts.append(s)
            t = s.end
        return shifts

    def quiet(self, priority: int, when: datetime) -> datetime | None:
        """When quiet hours hold an alarm of this priority: the end of the quiet hours; else None."""
        q = self.cfg.quiet_hours
        if q is None or priority not in q.priorities:
            return None
        local = _local_naive(when, self.zone)
        t = local.time()
        inside = (q.start <= t < q.end) if q.start < q.end else (t >= q.start or t < q.end)
        if not inside:
            return None
        end = datetime.combine(local.date(), q.end)
        if end <= local:
            end += timedelta(days=1)
        return _to_utc(end, self.zone)
