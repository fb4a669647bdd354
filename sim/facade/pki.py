"""The simulated PLC's OPC UA identity and users: a self-signed server certificate made on first start, and a
real user manager (no anonymous access when security is required, no 'admin with any password')."""

from __future__ import annotations

import hmac
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyncua.crypto.cert_gen import setup_self_signed_certificate
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.user_managers import UserManager
from cryptography.x509.oid import ExtendedKeyUsageOID

log = logging.getLogger(__name__)

USERS_ENV = "PLANTCTL_SIM_USERS"  # "name:password[,name:password…]"
SERVER_APP_URI = "urn:plantctl:sim:plc"


class UsersError(ValueError):
    """The user list cannot be parsed; the message says which entry and why."""


def parse_users(text: str, *, origin: str = USERS_ENV) -> dict[str, str]:
    """Parse 'name:password,name2:password2' (passwords may contain ':' after the first)."""
    users: dict[str, str] = {}
    for n, entry in enumerate(filter(None, (e.strip() for e in text.split(","))), start=1):
        name, sep, password = entry.partition(":")
        if not sep or not name or not password:
            raise UsersError(f"{origin}: entry {n} must be name:password (got {name or '?'!r} without both)")
        users[name] = password
    return users


def users_from_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    env = os.environ if environ is None else environ
    return parse_users(env.get(USERS_ENV, ""))


class PlcUserManager(UserManager):
    """Username/password from the façade's settings; anonymous only when security is not required.

    When security is required, a session must also come over a secured channel: asyncua opens a
    None-policy channel for discovery (Part 4 §5.4) and would let a session be activated on it even
    when no None endpoint is offered. `certificate` is the channel's peer (client application)
    certificate, which an unsecured channel does not have.
    """

    def __init__(self, users: Mapping[str, str], *, require_security: bool) -> None:
        self._users = dict(users)
        self._require_security = require_security

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: Any = None) -> User | None:
        if self._require_security and not certificate:  # None channel: b"" (no client certificate)
            log.warning("OPC UA session refused: not on a secured channel (user %r)", username)
            return None
        if username is None:
            return None if self._require_security else User(role=UserRole.User, name="anonymous")
        expected = self._users.get(username)
        if expected is None or password is None or not hmac.compare_digest(
                expected.encode(), password.encode()):
            log.warning("OPC UA login refused for user %r", username)
            return None
        return User(role=UserRole.User, name=username)


@dataclass(frozen=True, slots=True)
class ServerIdentity:
    certificate: Path  # DER
    private_key: Path  # PEM


async def ensure_server_certificate(pki_dir: Path, *, app_uri: str = SERVER_APP_URI,
                                    host: str = "127.0.0.1") -> ServerIdentity:
    """Create the server key and self-signed certificate on first start; reuse (and renew if invalid) later."""
    pki_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once at start-up, before serving
    identity = ServerIdentity(pki_dir / "server-cert.der", pki_dir / "server-key.pem")
    await setup_self_signed_certificate(
        identity.private_key, identity.certificate, app_uri, socket.gethostname(),
        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        {"countryName": "DE", "organizationName": "plantctl", "commonName": f"plantctl sim PLC ({host})"},
    )
    identity.private_key.chmod(0o600)
    return identity
