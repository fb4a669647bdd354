"""Finding 6: demo and production accounts live in separate worlds.

Before the fix a production start on a database a demo had used started happily and the demo admin (password
printed on the console) logged in; a demo start re-enabled disabled users and restored demoted roles.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from api.auth.bootstrap import AuthSetupError, add_user, check_production_admin, prepare_auth
from api.cli import users_app
from api.settings import ApiSettings
from tests.api.conftest import create_database


@pytest.fixture
def empty_db(db_server: Any) -> Iterator[str]:
    name = f"sec_demo_{secrets.token_hex(4)}"
    url = create_database(db_server, name)
    try:
        yield url
    finally:
        db_server.drop_database(name)


def users(url: str) -> dict[str, tuple[str, bool, bool]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return {str(r[0]): (str(r[1]), bool(r[2]), bool(r[3])) for r in conn.execute(
            "SELECT username, role, disabled, demo FROM api_users")}


def test_production_refuses_a_database_with_demo_users_and_says_how_to_fix_it(empty_db: str,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    prepare_auth(ApiSettings(mode="demo", database_url=empty_db))
    add_user(empty_db, "chief", "admin", secrets.token_urlsafe(18))  # even with a real admin of its own
    with pytest.raises(AuthSetupError, match="plantctl users purge-demo"):
        prepare_auth(ApiSettings(mode="production", database_url=empty_db))
    with pytest.raises(AuthSetupError, match="demo accounts"):
        check_production_admin(empty_db)  # the app's own start-up check refuses too
    monkeypatch.setenv("PLANTCTL_DATABASE_URL", empty_db)
    result = CliRunner().invoke(users_app, ["purge-demo"])
    assert result.exit_code == 0 and "admin, engineer, operator, viewer" in result.output, result.output
    assert set(users(empty_db)) == {"chief"}
    assert prepare_auth(ApiSettings(mode="production", database_url=empty_db)) == ""


def test_a_demo_admin_alone_does_not_satisfy_production(empty_db: str) -> None:
    prepare_auth(ApiSettings(mode="demo", database_url=empty_db))
    with psycopg.connect(empty_db, autocommit=True) as conn:
        conn.execute("UPDATE api_users SET demo = false WHERE username <> 'admin'")
    with pytest.raises(AuthSetupError, match="demo accounts \\(admin;"):
        check_production_admin(empty_db)


def test_a_demo_start_never_touches_accounts_that_are_not_demo_accounts(empty_db: str) -> None:
    add_user(empty_db, "operator", "viewer", secrets.token_urlsafe(18))  # demoted, and then disabled
    add_user(empty_db, "admin", "admin", secrets.token_urlsafe(18))
    with psycopg.connect(empty_db, autocommit=True) as conn:
        conn.execute("UPDATE api_users SET disabled = true WHERE username = 'operator'")
        before = dict(conn.execute("SELECT username, password_hash FROM api_users").fetchall())
    banner = prepare_auth(ApiSettings(mode="demo", database_url=empty_db))
    after = users(empty_db)
    assert after["operator"] == ("viewer", True, False)  # still demoted and disabled, still not a demo account
    assert after["admin"] == ("admin", False, False)
    with psycopg.connect(empty_db, autocommit=True) as conn:
        now = dict(conn.execute("SELECT username, password_hash FROM api_users").fetchall())
    assert now["operator"] == before["operator"] and now["admin"] == before["admin"]
    assert "operator  (not a demo account" in banner and "admin     (not a demo account" in banner
    assert after["viewer"] == ("viewer", False, True) and after["engineer"] == ("engineer", False, True)
