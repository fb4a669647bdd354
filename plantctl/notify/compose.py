"""What a page, a digest and a return-to-normal say: short enough for a phone, the worst alarm first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class AlarmLine:
    """An alarm as a message names it."""

    alarm: str
    priority: int
    raised_at: datetime
    message: str = ""
    value: float | None = None
    unit: str = ""

    def text(self, zone: ZoneInfo) -> str:
        value = "" if self.value is None else f" at {self.value:g} {self.unit}".rstrip()
        what = f": {self.message}" if self.message else ""
        return f"P{self.priority} {self.alarm}{what}{value} (since {self.raised_at.astimezone(zone):%a %H:%M %Z})"


DIGEST_LINES = 10


def worst_first(lines: list[AlarmLine]) -> list[AlarmLine]:
    return sorted(lines, key=lambda a: (a.priority, a.raised_at, a.alarm))


def page(plant: str, line: AlarmLine, panel_url: str, zone: ZoneInfo) -> tuple[str, str]:
    subject = f"[{plant}] P{line.priority} {line.alarm}" + (f": {line.message}" if line.message else "")
    body = (f"Alarm at {plant}, not acknowledged:\n{line.text(zone)}\n\n"
            f"Panel: {panel_url}#/alarms\n")
    return subject, body


def group(plant: str, lines: list[AlarmLine], panel_url: str, zone: ZoneInfo, digest: bool,
          unacked_now: int | None = None) -> tuple[str, str]:
    """Several alarms at once; a digest (flood) lists the worst ten, how many the plant has unacknowledged
    now (a flood goes on raising alarms after its digest), and links the panel for the rest."""
    lines = worst_first(lines)
    worst = lines[0]
    head = "Alarm flood" if digest else "Alarms"
    subject = f"[{plant}] {head}: {len(lines)} alarms not acknowledged (worst P{worst.priority} {worst.alarm})"
    shown = lines[:DIGEST_LINES] if digest else lines
    body = [f"{head} at {plant}: {len(lines)} alarms not acknowledged, the worst first:"]
    body += [f"- {a.text(zone)}" for a in shown]
    if len(lines) > len(shown):
        body.append(f"… and {len(lines) - len(shown)} more.")
    if digest and unacked_now is not None:
        body.append(f"Unacknowledged in the plant now: {unacked_now}. The next digest comes when the flood "
                    "hold ends; the panel shows them all.")
    body.append(f"\nPanel: {panel_url}#/alarms")
    return subject, "\n".join(body) + "\n"


def return_to_normal(plant: str, alarm: str, when: datetime, zone: ZoneInfo) -> tuple[str, str]:
    return (f"[{plant}] {alarm} returned to normal",
            f"{alarm} returned to normal at {when.astimezone(zone):%a %H:%M %Z} (still to be acknowledged "
            "in the panel).\n")


def test_message(plant: str, person: str, when: datetime, zone: ZoneInfo) -> tuple[str, str]:
    return (f"[{plant}] Daily test message for {person}",
            f"This is the daily test of plantctl notifications at {plant}, "
            f"sent {when.astimezone(zone):%a %d %b %H:%M %Z}. No action needed.\n")
