"""Historian test helpers: a migrated fresh database per test and plant-like tag configs."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from plantctl.config.models import TagConfig
from plantctl.historian.migrate import MIGRATIONS_DIR, apply_migrations
from plantctl.quality import Quality
from plantctl.samples import Sample

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def tag_configs(n: int, unit: str = "pH") -> list[TagConfig]:
    return [TagConfig.model_validate({
        "name": f"AIT-{100 + i}", "unit": unit, "description": f"analyser {i}",
        "range": {"low": 0, "high": 14}, "source": "PLC-1",
        "opcua": {"node_id": f"ns=2;s=Plant.AIT-{100 + i}"}}) for i in range(n)]


def series(tag: str, start: datetime, step: timedelta, n: int, *, value0: float = 0.0,
           quality_every: int = 0) -> list[Sample]:
    """n samples of one tag; every `quality_every`-th one is Uncertain (0: all Good)."""
    out = []
    for k in range(n):
        q = Quality.UNCERTAIN if quality_every and k % quality_every == quality_every - 1 else Quality.GOOD
        out.append(Sample(tag, start + k * step, value0 + (k * 7919 % 1000) / 10.0, q))
    return out


@pytest.fixture(scope="session")
def core_migrations(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Only the historian's own migration, so these tests do not depend on other parts' files."""
    d = tmp_path_factory.mktemp("migrations")
    shutil.copy(MIGRATIONS_DIR / "0001_core.sql", d / "0001_core.sql")
    return d


@pytest.fixture
def historian_db(fresh_database: str, core_migrations: Path) -> str:
    """A fresh database with the historian's schema."""
    apply_migrations(fresh_database, core_migrations)
    return fresh_database
