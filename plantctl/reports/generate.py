"""Make and file a report: compute from the historian, render, store with its hash."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import psycopg

from plantctl.config.models import PlantConfig
from plantctl.reports.compute import ReportError, compute
from plantctl.reports.figures import Report
from plantctl.reports.period import Period, daily, monthly
from plantctl.reports.render import render
from plantctl.reports.store import FiledReport, file_report

FORMATS = ("pdf", "csv")


def period_for(plant: PlantConfig, kind: str, key: str) -> Period:
    """The period of a daily (YYYY-MM-DD) or monthly (YYYY-MM) report in the plant's time zone."""
    zone = plant.plant.timezone
    if kind == "daily":
        try:
            return daily(date.fromisoformat(key), zone)
        except ValueError:
            raise ValueError(f"date {key!r} is not YYYY-MM-DD") from None
    if kind == "monthly":
        return monthly(key, zone)
    raise ValueError(f"report kind {kind!r}: daily or monthly")


def make(conn: psycopg.Connection[Any], plant: PlantConfig, kind: str, key: str) -> Report:
    return compute(conn, plant, period_for(plant, kind, key))


def make_and_file(conn: psycopg.Connection[Any], plant: PlantConfig, kind: str, key: str,
                  formats: tuple[str, ...] = FORMATS, generated_by: str = "") -> list[FiledReport]:
    """Compute once, render each format, file each (a no-op for bytes already filed); only finished periods."""
    period = period_for(plant, kind, key)
    if period.end > datetime.now(UTC):
        raise ReportError(f"the {kind} period {key} is not over (it ends {period.end:%Y-%m-%d %H:%M} UTC); "
                          "a filed report is final, so it is filed only after its period")
    report = compute(conn, plant, period)
    return [file_report(conn, kind, key, f, render(report, f), generated_by) for f in formats]
