"""The API's settings from the environment (PLANTCTL_*), refusing unsafe defaults outside demo mode."""

from __future__ import annotations

import logging
import os
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.auth.password_policy import MIN_PASSWORD_LENGTH, weak_password_reason

log = logging.getLogger(__name__)
# Settings of the old per-user lockout (issue 19, finding 2): said aloud when still set, not silently ignored.
RETIRED = {"PLANTCTL_LOGIN_MAX_FAILURES_PER_USER": "PLANTCTL_LOGIN_FREE_FAILURES and PLANTCTL_LOGIN_MAX_DELAY_S",
           "PLANTCTL_LOGIN_MAX_ATTEMPTS_PER_IP": "PLANTCTL_LOGIN_ADDRESS_FREE_FAILURES"}

__all__ = ["MIN_PASSWORD_LENGTH", "ApiSettings", "weak_password_reason"]

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
    auth_cache_ttl_s: float = Field(
        default=5, ge=0, le=60, description="a resolved session or API token is trusted this long without the "
        "database; changes through the API apply at once, changes by another process (plantctl users) within this")
    auth_cache_max_entries: int = Field(default=10_000, ge=1, le=1_000_000,
                                        description="resolved sessions and tokens kept (oldest dropped first)")
    cookie_secure: bool = Field(default=True, description="Secure flag of the session cookie (keep on)")
    allowed_origins: list[str] = Field(
        default_factory=list, description="extra browser origins allowed on the live stream besides the API's own")
    login_window_s: float = Field(default=900, gt=0, description="a throttle forgets failures older than this")
    login_free_failures: int = Field(
        default=3, ge=0, le=100, description="failed logins of one user from one address before delays start")
    login_base_delay_s: float = Field(default=1, gt=0, le=3600, description="first delay; doubles with each failure")
    login_max_delay_s: float = Field(default=60, gt=0, le=86400, description="the longest delay between attempts")
    login_address_free_failures: int = Field(
        default=30, ge=1, description="failed logins from one address (any user) before that address is slowed")
    trusted_proxies: list[str] = Field(
        default_factory=list, description="addresses/networks of reverse proxies whose X-Forwarded-For is believed")
    allowed_hosts: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "localhost", "::1"],
        description="Host header values accepted (DNS rebinding); '*.example.org' matches subdomains")
    header_timeout_s: float = Field(default=10, gt=0, le=300,
                                    description="a request's head must arrive within this after connect or idle")
    body_timeout_s: float = Field(default=30, gt=0, le=3600, description="a request's body must arrive within this")
    keepalive_timeout_s: int = Field(default=5, ge=1, le=300, description="idle keep-alive connections are closed")
    max_connections: int = Field(default=200, ge=2, le=100_000, description="concurrent connections; more get 503")
    max_streams_per_user: int = Field(default=8, ge=1, le=1000, description="open live streams per user")
    live_queue_batches: int = Field(default=256, ge=1, description="batches a slow live client may lag before drops")
    db_pool_max: int = Field(default=8, ge=1, le=100)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: list[str]) -> list[str]:
        from api.proxy import parse_networks
        parse_networks(tuple(value))
        return value

    @model_validator(mode="after")
    def _retired_names(self) -> ApiSettings:
        for name, instead in RETIRED.items():
            if name in os.environ:
                log.warning("%s is no longer read (logins are never locked out): use %s", name, instead)
        return self

    @model_validator(mode="after")
    def _admin_pair(self) -> ApiSettings:
        if (self.admin_user is None) != (self.admin_password is None):
            raise ValueError("set PLANTCTL_ADMIN_USER and PLANTCTL_ADMIN_PASSWORD together, or neither")
        if self.admin_password is not None:
            weak = weak_password_reason(self.admin_password.get_secret_value(), self.admin_user)
            if weak is not None:
                raise ValueError(f"PLANTCTL_ADMIN_PASSWORD {weak}; choose another (16+ random characters)")
        return self
