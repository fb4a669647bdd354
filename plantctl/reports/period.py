"""Report periods in plant-local time: a day is local midnight to local midnight (23, 24 or 25 hours)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True, slots=True)
class LocalSlot:
    """One row of a report: [start, end) in UTC, labelled in plant-local time with its UTC offset."""

    start: datetime
    end: datetime
    label: str


@dataclass(frozen=True, slots=True)
class Period:
    """A report period: its kind, key (2026-10-25 or 2026-10), UTC bounds and its rows (hours or days)."""

    kind: str
    key: str
    zone: str
    start: datetime
    end: datetime
    slots: tuple[LocalSlot, ...]


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def _label(t: datetime, zone: ZoneInfo, fmt: str) -> str:
    local = t.astimezone(zone)
    off = local.strftime("%z")
    return f"{local.strftime(fmt)} {off[:3]}:{off[3:]}"


def daily(day: date, zone_name: str) -> Period:
    """The local day's UTC bounds and its local hours; on DST days one hour is missing or repeated."""
    zone = ZoneInfo(zone_name)
    start, end = _midnight(day, zone), _midnight(day + timedelta(days=1), zone)
    slots = []
    t = start
    while t < end:  # whole hours from local midnight are the local clock hours (DST shifts are whole hours)
        nxt = min(t + timedelta(hours=1), end)
        slots.append(LocalSlot(t, nxt, _label(t, zone, "%H:%M")))
        t = nxt
    return Period("daily", day.isoformat(), zone_name, start, end, tuple(slots))


def monthly(month: str, zone_name: str) -> Period:
    """A local calendar month, one row per local day."""
    m = _MONTH.match(month)
    if m is None or not 1 <= int(m.group(2)) <= 12:
        raise ValueError(f"month {month!r} is not YYYY-MM")
    year, mon = int(m.group(1)), int(m.group(2))
    zone = ZoneInfo(zone_name)
    first = date(year, mon, 1)
    after = date(year + (mon == 12), mon % 12 + 1, 1)
    slots = []
    day = first
    while day < after:
        slots.append(LocalSlot(_midnight(day, zone), _midnight(day + timedelta(days=1), zone), day.isoformat()))
        day += timedelta(days=1)
    return Period("monthly", month, zone_name, slots[0].start, slots[-1].end, tuple(slots))


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"date {text!r} is not YYYY-MM-DD") from None
