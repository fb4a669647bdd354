"""The API's settings from the environment (PLANTCTL_*), refusing unsafe defaults outside demo mode."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_PASSWORD_LENGTH = 12
# Words that vendors ship as defaults or that lists of breached passwords start with (IEC 62443-3-3 SR 1.5/1.7).
_DEFAULT_WORDS = frozenset({
    "password", "passwort", "changeme", "admin", "administrator", "root", "default", "secret", "letmein", "welcome",
    "qwerty", "qwertz", "azerty", "plantctl", "operator", "engineer", "viewer", "scada", "opcua", "modbus", "plc",
    "siemens", "manager", "user", "test", "demo", "abc", "iloveyou", "monkey", "dragon", "master", "login"})


def weak_password_reason(password: str, username: str | None = None) -> str | None:
    """Why a password is too weak for an account of this service, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must have at least {MIN_PASSWORD_LENGTH} characters"
    if len(set(password)) < 5:
        return "uses fewer than 5 different characters"
    lowered = password.lower()
    if username and len(username) >= 3 and username.lower() in lowered:
        return "contains the user name"
    letters = re.sub(r"[^a-z]", "", lowered)
    if not letters:
        return "has no letters (digits and symbols only)"
    for word in _DEFAULT_WORDS:
        if letters == word * (len(letters) // len(word)):
            return f"is a default or common password ({word!r} with digits or symbols)"
    return None


class ApiSettings(BaseSettings):
    """Security-relevant settings; times in seconds, sizes in counts."""

    # hide_input_in_errors: a refusal must not print the password it refuses (nor the database URL)
    model_config = SettingsConfigDict(env_prefix="PLANTCTL_", extra="ignore", frozen=True, hide_input_in_errors=True)

    mode: Literal["demo", "production"] = Field(
        default="production", description="demo creates demo users with random passwords; production needs an admin")
    database_url: str | None = Field(default=None, description="PostgreSQL/TimescaleDB URL of the plant database")
    bind_host: str = Field(default="127.0.0.1", description="listen address; loopback unless told otherwise")
    bind_port: int = Field(default=8080, ge=0, le=65535)
    admin_user: str | None = Field(default=None, description="an admin created (if absent) at start-up")
    admin_password: SecretStr | None = Field(default=None, description="its password (PLANTCTL_ADMIN_PASSWORD)")
    session_ttl_s: float = Field(default=8 * 3600, gt=0, le=7 * 86400, description="one shift by default")
    cookie_secure: bool = Field(default=True, description="Secure flag of the session cookie (keep on)")
    allowed_origins: list[str] = Field(
        default_factory=list, description="extra browser origins allowed on the live stream besides the API's own")
    login_window_s: float = Field(default=300, gt=0, description="window of the login rate limits")
    login_max_failures_per_user: int = Field(default=5, ge=1, description="failed logins per user per window")
    login_max_attempts_per_ip: int = Field(default=20, ge=1, description="login attempts per client IP per window")
    live_queue_batches: int = Field(default=256, ge=1, description="batches a slow live client may lag before drops")
    db_pool_max: int = Field(default=8, ge=1, le=100)

    @model_validator(mode="after")
    def _admin_pair(self) -> ApiSettings:
        if (self.admin_user is None) != (self.admin_password is None):
            raise ValueError("set PLANTCTL_ADMIN_USER and PLANTCTL_ADMIN_PASSWORD together, or neither")
        if self.admin_password is not None:
            weak = weak_password_reason(self.admin_password.get_secret_value(), self.admin_user)
            if weak is not None:
                raise ValueError(f"PLANTCTL_ADMIN_PASSWORD {weak}; choose another (16+ random characters)")
        return self
