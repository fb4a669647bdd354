"""A fresh database with every migration applied, for the audit trail tests."""

from __future__ import annotations

import pytest

from plantctl.historian.migrate import apply_migrations


@pytest.fixture
def audit_db(fresh_database: str) -> str:
    assert "0101_audit.sql" in apply_migrations(fresh_database)
    return fresh_database
