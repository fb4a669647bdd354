"""Recorded sample sequences (tests/alarms/data/*.csv) as Samples on a fixed clock."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

from plantctl.config.models import AlarmConfig
from plantctl.quality import Quality
from plantctl.samples import Sample

DATA = Path(__file__).parent / "data"
T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def recorded(name: str, tag: str) -> list[Sample]:
    with (DATA / name).open() as fh:
        rows = csv.DictReader(line for line in fh if not line.startswith("#"))
        return [Sample(tag, at(float(r["t_s"])), float(r["value"]), Quality[r["quality"]]) for r in rows]


def alarm(**fields: object) -> AlarmConfig:
    """An alarm definition as the plant file gives it (plain values, validated)."""
    return AlarmConfig.model_validate(fields)
