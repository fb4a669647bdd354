"""Report periods in plant-local time, across both DST changes (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from plantctl.reports.period import daily, monthly
from plantctl.reports.scheduler import due


def test_autumn_dst_day_has_25_hours_with_the_repeated_hour_labelled_by_offset() -> None:
    p = daily(date(2026, 10, 25), "Europe/Berlin")
    assert p.start == datetime(2026, 10, 24, 22, tzinfo=UTC)
    assert p.end == datetime(2026, 10, 25, 23, tzinfo=UTC)
    labels = [s.label for s in p.slots]
    assert len(labels) == 25
    assert labels[:4] == ["00:00 +02:00", "01:00 +02:00", "02:00 +02:00", "02:00 +01:00"]
    assert labels[-1] == "23:00 +01:00"
    assert all(s.end - s.start == timedelta(hours=1) for s in p.slots)


def test_spring_dst_day_has_23_hours_and_no_0200() -> None:
    p = daily(date(2026, 3, 29), "Europe/Berlin")
    labels = [s.label for s in p.slots]
    assert len(labels) == 23
    assert "02:00 +01:00" not in labels and "02:00 +02:00" not in labels
    assert labels[1:3] == ["01:00 +01:00", "03:00 +02:00"]


def test_half_hour_zone_rows_are_local_clock_hours() -> None:
    p = daily(date(2026, 10, 25), "Asia/Kolkata")
    assert p.start == datetime(2026, 10, 24, 18, 30, tzinfo=UTC)
    assert [s.label for s in p.slots][:2] == ["00:00 +05:30", "01:00 +05:30"]
    assert len(p.slots) == 24


def test_month_rows_are_local_days() -> None:
    p = monthly("2026-10", "Europe/Berlin")
    assert len(p.slots) == 31
    assert p.start == datetime(2026, 9, 30, 22, tzinfo=UTC)
    assert p.end == datetime(2026, 10, 31, 23, tzinfo=UTC)
    assert p.slots[24].end - p.slots[24].start == timedelta(hours=25)


@pytest.mark.parametrize("bad", ["2026-13", "2026-1", "26-10", "2026-10-01"])
def test_month_refuses_what_is_not_yyyy_mm(bad: str) -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        monthly(bad, "UTC")


def test_due_waits_for_local_midnight_plus_the_grace() -> None:
    # 2026-11-01 00:10 in Berlin is 2026-10-31 23:10 UTC: with 15 min grace, 30 Oct is the last day due
    early = due(datetime(2026, 10, 31, 23, 10, tzinfo=UTC), "Europe/Berlin", 15)
    assert early == [("daily", "2026-10-30"), ("monthly", "2026-09")]
    late = due(datetime(2026, 10, 31, 23, 20, tzinfo=UTC), "Europe/Berlin", 15)
    assert late == [("daily", "2026-10-31"), ("monthly", "2026-10")]
