"""Rosters in plant local time (DST, overrides, quiet hours) and the plant file's checks of the section."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from plantctl.config.notifications import NotificationsConfig, RotationConfig
from plantctl.notify.roster import Roster
from plantctl.plantfile import load_plant

REPO = Path(__file__).resolve().parents[2]


def cfg(**extra: object) -> NotificationsConfig:
    data: dict[str, object] = {
        "timezone": "Europe/Berlin",
        "people": [{"name": "anna"}, {"name": "ben"}, {"name": "carla"}],
        "rotations": [{"name": "primary", "people": ["anna", "ben"], "start": "2026-11-30"}],
        "quiet_hours": {"start": "22:00", "end": "06:00", "priorities": [4]},
    }
    data.update(extra)
    return NotificationsConfig.model_validate(data)


def utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)


def test_weekly_handover_at_local_time_across_daylight_saving() -> None:
    r = Roster(cfg(rotations=[{"name": "primary", "people": ["anna", "ben"], "start": "2026-03-23"}]))
    # Monday 23 March 08:00 CET is 07:00 UTC; Monday 30 March 08:00 CEST (after the switch) is 06:00 UTC
    assert r.on_call("primary", utc(2026, 3, 23, 6, 59)).person == "ben"
    assert r.on_call("primary", utc(2026, 3, 23, 7, 0)).person == "anna"
    assert r.on_call("primary", utc(2026, 3, 30, 5, 59)).person == "anna"
    assert r.on_call("primary", utc(2026, 3, 30, 6, 0)).person == "ben"
    assert r.on_call("primary", utc(2026, 3, 30, 6, 0)).start == utc(2026, 3, 30, 6, 0)


def test_a_panel_rotation_replaces_the_plant_files_of_its_name_until_cleared() -> None:
    r = Roster(cfg())
    monday = utc(2026, 12, 7, 7, 0)  # Monday 08:00 CET: ben's week in the plant file (anna from 30 Nov)
    assert r.on_call("primary", monday).person == "ben"
    r.panel_rotations = {"primary": RotationConfig(name="primary", people=["carla", "anna"], start="2026-12-07",
                                                   handover_time="07:00", period_days=14)}
    assert r.on_call("primary", monday).person == "carla"
    shift = r.on_call("primary", monday)
    assert (shift.start, shift.end) == (utc(2026, 12, 7, 6, 0), utc(2026, 12, 21, 6, 0))  # 07:00 local, 14 days
    assert r.on_call("primary", utc(2026, 12, 21, 6, 0)).person == "anna"
    r.panel_rotations = {}
    assert r.on_call("primary", monday).person == "ben"


def test_an_override_swaps_the_person_for_its_time_only() -> None:
    r = Roster(cfg(overrides=[{"rotation": "primary", "person": "carla", "start": "2026-12-24T18:00",
                               "end": "2026-12-26T08:00", "reason": "ben's Christmas"}]))
    assert r.on_call("primary", utc(2026, 12, 24, 16, 59)).person == "ben"
    assert r.on_call("primary", utc(2026, 12, 24, 17, 0)).person == "carla"
    assert r.on_call("primary", utc(2026, 12, 26, 7, 0)).person == "ben"
    shifts = r.schedule("primary", utc(2026, 12, 21, 7, 0), utc(2027, 1, 4, 7, 0))
    assert [(s.person, s.override) for s in shifts] == [("ben", False), ("carla", True), ("ben", False),
                                                        ("anna", False)]
    assert shifts[0].end == shifts[1].start == utc(2026, 12, 24, 17, 0)


def test_quiet_hours_hold_low_priorities_until_morning() -> None:
    r = Roster(cfg())
    assert r.quiet(4, utc(2026, 12, 7, 23, 0)) == utc(2026, 12, 8, 5, 0)  # 00:00 local → 06:00 local
    assert r.quiet(4, utc(2026, 12, 7, 12, 0)) is None
    assert r.quiet(1, utc(2026, 12, 7, 23, 0)) is None


@pytest.mark.parametrize(("extra", "error"), [
    ({"rotations": [{"name": "primary", "people": ["anna", "dave"], "start": "2026-11-30"}]},
     "rotation primary: no person named 'dave'"),
    ({"pipelines": [{"name": "p", "steps": [{"notify": ["rotation:secondary"]}]}]},
     "pipeline p step 1: no rotation named 'secondary'"),
    ({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
    ({"pipelines": [{"name": "sys.night", "steps": [{"notify": ["rotation:primary"]}]}]},
     "pipeline sys.night: names beginning SYS. are the service's own"),
    ({"people": [{"name": "anna", "email": "anna@x.example"}, {"name": "ben"}]}, "channels.email is not configured"),
])
def test_a_typo_in_the_section_is_a_clear_error(extra: dict[str, object], error: str) -> None:
    with pytest.raises(ValidationError, match=error.replace("(", r"\(").replace(")", r"\)")):
        cfg(**extra)


def test_the_default_example_plant_runs_without_notifications() -> None:
    assert load_plant(REPO / "examples" / "plant.yaml").notifications is None


def test_the_notification_example_loads() -> None:
    plant = load_plant(REPO / "examples" / "plant-notifications.yaml")
    assert plant.notifications is not None and plant.notifications.pipelines
