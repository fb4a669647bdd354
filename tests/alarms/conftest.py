"""A fresh database with every migration applied (the historian's runner), for the alarm journal tests."""

from __future__ import annotations

import pytest

from plantctl.historian.migrate import apply_migrations


@pytest.fixture
def alarm_db(fresh_database: str) -> str:
    applied = apply_migrations(fresh_database)
    assert "0100_alarms.sql" in applied
    return fresh_database
