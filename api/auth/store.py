"""Users, sessions and API tokens in the plant database (tables of migration 0200_auth)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg_pool import AsyncConnectionPool

from api.auth.principal_cache import PrincipalCache
from api.auth.roles import Role
from api.auth.secrets import (
    API_TOKEN_PREFIX,
    SESSION_PREFIX,
    hash_password,
    needs_rehash,
    new_token,
    token_digest,
    verify_password,
)
from plantctl.samples import utcnow

USERNAME = re.compile(r"^[a-z][a-z0-9_.-]{1,63}$")


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    role: Role
    disabled: bool
    created: datetime


@dataclass(frozen=True, slots=True)
class Principal:
    """Who makes a request and how they proved it; `csrf_digest` is set for cookie sessions only."""

    user_id: int
    username: str
    role: Role
    via: str  # "session" (bearer), "cookie" or "api-token"
    credential_id: str
    csrf_digest: bytes | None = None


@dataclass(frozen=True, slots=True)
class IssuedSession:
    token: str
    csrf_token: str
    expires: datetime
    user: User


@dataclass(frozen=True, slots=True)
class ApiTokenInfo:
    id: int
    name: str
    username: str
    role: Role
    created: datetime
    expires: datetime | None
    revoked: datetime | None
    last_used: datetime | None


class UserError(ValueError):
    """A user or token request the store refuses, with the reason."""


def check_username(username: str) -> str:
    if not USERNAME.match(username):
        raise UserError(f"user name {username!r} must be 2-64 characters: a-z first, then a-z 0-9 _ . -")
    return username


def _user(row: tuple[Any, ...]) -> User:
    return User(int(row[0]), str(row[1]), Role.parse(str(row[2])), bool(row[3]), row[4])


_USER_COLS = "id, username, role, disabled, created"


async def _hash(password: str) -> str:
    """argon2 takes tens of milliseconds of CPU: off the event loop, so live streams keep flowing."""
    return await asyncio.to_thread(hash_password, password)


class AuthStore:
    """Every read and write of the auth tables goes through here; resolved principals are cached briefly
    (api.auth.principal_cache) and every change made here drops the entries it affects."""

    def __init__(self, pool: AsyncConnectionPool[Any], cache: PrincipalCache | None = None) -> None:
        self._pool = pool
        self.cache = cache if cache is not None else PrincipalCache()

    async def create_user(self, username: str, role: Role, password: str) -> User:
        check_username(username)
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                f"INSERT INTO api_users (username, password_hash, role) VALUES (%s, %s, %s) "
                f"ON CONFLICT (username) DO NOTHING RETURNING {_USER_COLS}",
                (username, await _hash(password), role.label))
            row = await cur.fetchone()
        if row is None:
            raise UserError(f"user {username!r} already exists")
        return _user(row)

    async def list_users(self) -> list[User]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(f"SELECT {_USER_COLS} FROM api_users ORDER BY username")
            return [_user(r) for r in await cur.fetchall()]

    async def get_user(self, username: str) -> User | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(f"SELECT {_USER_COLS} FROM api_users WHERE username = %s", (username,))
            row = await cur.fetchone()
        return None if row is None else _user(row)

    async def update_user(self, username: str, *, role: Role | None = None, disabled: bool | None = None,
                          password: str | None = None) -> tuple[User, User]:
        """Returns the user before and after the change (for the audit trail)."""
        new_hash = await _hash(password) if password else None
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(f"SELECT {_USER_COLS} FROM api_users WHERE username = %s FOR UPDATE",
                                     (username,))
            row = await cur.fetchone()
            if row is None:
                raise UserError(f"no user {username!r}")
            old = _user(row)
            cur = await conn.execute(
                f"UPDATE api_users SET role = COALESCE(%s, role), disabled = COALESCE(%s, disabled), "
                f"password_hash = COALESCE(%s, password_hash), updated = now() WHERE id = %s RETURNING {_USER_COLS}",
                (role.label if role else None, disabled, new_hash, old.id))
            new_row = await cur.fetchone()
            assert new_row is not None
            if disabled or password:  # a disabled user or a changed password ends every session
                await conn.execute("DELETE FROM api_sessions WHERE user_id = %s", (old.id,))
        self.cache.forget_user(old.id)  # a new role, a disabled account or ended sessions count from now
        return old, _user(new_row)

    async def count_admins(self) -> int:
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM api_users WHERE role = 'admin' AND NOT disabled")
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def authenticate(self, username: str, password: str) -> User | None:
        """The user if the password matches and the account is enabled; argon2 runs either way."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(f"SELECT {_USER_COLS}, password_hash FROM api_users WHERE username = %s",
                                     (username,))
            row = await cur.fetchone()
        stored = str(row[5]) if row else None
        if not await asyncio.to_thread(verify_password, stored, password) or row is None or bool(row[3]):
            return None
        user = _user(row)
        if stored is not None and needs_rehash(stored):
            async with self._pool.connection() as conn:
                await conn.execute("UPDATE api_users SET password_hash = %s WHERE id = %s",
                                   (await _hash(password), user.id))
        return user

    async def open_session(self, user: User, client_ip: str, ttl_s: float) -> IssuedSession:
        token, csrf = new_token(SESSION_PREFIX), new_token("")
        expires = utcnow() + timedelta(seconds=ttl_s)
        async with self._pool.connection() as conn:
            await conn.execute("DELETE FROM api_sessions WHERE expires < now()")
            await conn.execute(
                "INSERT INTO api_sessions (token_sha256, csrf_sha256, user_id, client_ip, expires) "
                "VALUES (%s, %s, %s, %s, %s)", (token_digest(token), token_digest(csrf), user.id, client_ip, expires))
        return IssuedSession(token, csrf, expires, user)

    async def close_session(self, token: str) -> None:
        digest = token_digest(token)
        async with self._pool.connection() as conn:
            await conn.execute("DELETE FROM api_sessions WHERE token_sha256 = %s", (digest,))
        self.cache.forget_credential(digest)

    async def resolve(self, token: str, *, via_cookie: bool = False) -> Principal | None:
        """The principal behind a session or API token, or None if unknown, expired, revoked or disabled.

        From the cache when resolved within its TTL (no database round trip); an API token's `last_used` is
        then written once per TTL rather than on every request."""
        digest = token_digest(token)
        cached = self.cache.get(digest, via_cookie)
        if cached is not None:
            return cached
        generation = self.cache.generation
        principal, expires = await self._lookup(token, digest, via_cookie)
        if principal is not None:  # not kept if a change was made while the database answered
            self.cache.put(digest, via_cookie, principal, expires, generation)
        return principal

    async def _lookup(self, token: str, digest: bytes, via_cookie: bool) -> tuple[Principal | None, datetime | None]:
        async with self._pool.connection() as conn:
            if token.startswith(SESSION_PREFIX):
                cur = await conn.execute(
                    "SELECT u.id, u.username, u.role, s.csrf_sha256, s.expires FROM api_sessions s "
                    "JOIN api_users u ON u.id = s.user_id WHERE s.token_sha256 = %s AND s.expires > now() "
                    "AND NOT u.disabled", (digest,))
                row = await cur.fetchone()
                if row is None:
                    return None, None
                return Principal(int(row[0]), str(row[1]), Role.parse(str(row[2])),
                                 "cookie" if via_cookie else "session", digest.hex()[:12],
                                 bytes(row[3]) if via_cookie else None), row[4]
            if token.startswith(API_TOKEN_PREFIX) and not via_cookie:
                cur = await conn.execute(
                    "UPDATE api_tokens t SET last_used = now() FROM api_users u WHERE u.id = t.user_id "
                    "AND t.token_sha256 = %s AND t.revoked IS NULL AND (t.expires IS NULL OR t.expires > now()) "
                    "AND NOT u.disabled RETURNING u.id, u.username, t.role, u.role, t.id, t.expires", (digest,))
                row = await cur.fetchone()
                if row is None:
                    return None, None
                role = min(Role.parse(str(row[2])), Role.parse(str(row[3])))  # never above its owner's
                return Principal(int(row[0]), str(row[1]), role, "api-token", f"token-{int(row[4])}"), row[5]
        return None, None

    async def issue_api_token(self, owner: User, name: str, role: Role,
                              expires: datetime | None) -> tuple[str, ApiTokenInfo]:
        if role > owner.role:
            raise UserError(f"a token cannot have role {role.label} above its owner's {owner.role.label}")
        token = new_token(API_TOKEN_PREFIX)
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO api_tokens (name, token_sha256, user_id, role, expires) VALUES (%s, %s, %s, %s, %s) "
                "RETURNING id, created", (name, token_digest(token), owner.id, role.label, expires))
            row = await cur.fetchone()
        assert row is not None
        return token, ApiTokenInfo(int(row[0]), name, owner.username, role, row[1], expires, None, None)

    async def list_api_tokens(self) -> list[ApiTokenInfo]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT t.id, t.name, u.username, t.role, t.created, t.expires, t.revoked, t.last_used "
                "FROM api_tokens t JOIN api_users u ON u.id = t.user_id ORDER BY t.id")
            return [ApiTokenInfo(int(r[0]), str(r[1]), str(r[2]), Role.parse(str(r[3])), r[4], r[5], r[6], r[7])
                    for r in await cur.fetchall()]

    async def revoke_api_token(self, token_id: int) -> bool:
        async with self._pool.connection() as conn:
            cur = await conn.execute("UPDATE api_tokens SET revoked = now() WHERE id = %s AND revoked IS NULL "
                                     "RETURNING id", (token_id,))
            revoked = await cur.fetchone() is not None
        self.cache.forget_api_token(token_id)
        return revoked
