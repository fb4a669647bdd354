"""No default or weak administrator password gets into the service (IEC 62443-3-3 SR 1.5, SR 1.7).

Production already refuses to start without an enabled admin (tests/api/test_auth.py); here: the admin
from the environment and `plantctl users add` refuse passwords that are long enough but guessable.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from typer.testing import CliRunner

from api.cli import users_app
from api.settings import ApiSettings, weak_password_reason

WEAK = {
    "Password1234": "default or common",
    "changeme2024!": "default or common",
    "adminadmin12": "contains the user name",
    "Admin@Plant2024": "contains the user name",
    "123456789012": "a sequence",
    "iloveyou2024": "default or common",
    "sunshine1234!": "default or common",
    "aaaaaaaaaaaa": "fewer than 5 different",
    "abababab1212": "fewer than 5 different",
    "plantctl-2025": "default or common",
    "Qwerty!Qwerty!": "default or common",
    "short": "at least 12",
}


@pytest.mark.parametrize("password", list(WEAK))
@pytest.mark.parametrize("mode", ["production", "demo"])
def test_env_admin_with_a_weak_password_refuses_the_settings(password: str, mode: str) -> None:
    with pytest.raises(ValueError, match=WEAK[password]) as info:
        ApiSettings(mode=mode, admin_user="admin", admin_password=password)
    assert password not in str(info.value), "the refusal repeats the secret"


@pytest.mark.parametrize("password", ["correct-horse-battery-staple", "Tq7#vR2m!pL9xZ", secrets.token_urlsafe(16),
                                      "583920174628"])  # digits only: no composition rules (NIST SP 800-63B)
def test_strong_passwords_pass(password: str) -> None:
    assert weak_password_reason(password, "admin") is None
    assert ApiSettings(admin_user="admin", admin_password=password).admin_password is not None


def test_env_settings_are_read_and_refused_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLANTCTL_ADMIN_USER", "chief")
    monkeypatch.setenv("PLANTCTL_ADMIN_PASSWORD", "changeme1234")
    with pytest.raises(ValueError, match="PLANTCTL_ADMIN_PASSWORD is a default or common password"):
        ApiSettings()


def test_users_add_refuses_a_weak_password(db_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Refused before the database is touched, so any database URL will do."""
    monkeypatch.setenv("PLANTCTL_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    result = CliRunner().invoke(users_app, ["add", "chief", "--role", "admin"],
                                input="Password12345\nPassword12345\n")
    assert result.exit_code == 2, result.output
    assert "default or common password" in result.output and "Traceback" not in result.output
