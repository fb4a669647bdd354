"""Start-up rules for accounts: no default password anywhere; demo users only in demo mode, printed once."""

from __future__ import annotations

import getpass
import json

import psycopg

from api.auth.roles import Role
from api.auth.secrets import hash_password, random_password
from api.auth.store import UserError, check_username
from api.settings import ApiSettings, weak_password_reason
from plantctl.historian.migrate import apply_migrations

DEMO_USERS = ("viewer", "operator", "engineer", "admin")


class AuthSetupError(RuntimeError):
    """The service must not start: the message says what the operator must do."""


def _audit(conn: psycopg.Connection[object], action: str, target: str, new: object) -> None:
    conn.execute("INSERT INTO audit_log (actor, action, target, new_value, source_address) "
                 "VALUES (%s, %s, %s, %s::jsonb, 'local')",
                 (f"cli:{getpass.getuser()}", action, target, json.dumps(new)))


def add_user(database_url: str, username: str, role: Role | str, password: str) -> None:
    """`plantctl users add NAME --role ROLE` (password prompted by the CLI); refuses an existing name."""
    role = role if isinstance(role, Role) else Role.parse(role)
    check_username(username)
    weak = weak_password_reason(password, username)
    if weak is not None:
        raise UserError(f"the password {weak}")
    apply_migrations(database_url)
    with psycopg.connect(database_url, autocommit=True, connect_timeout=10) as conn, conn.transaction():
        row = conn.execute("INSERT INTO api_users (username, password_hash, role) VALUES (%s, %s, %s) "
                           "ON CONFLICT (username) DO NOTHING RETURNING id",
                           (username, hash_password(password), role.label)).fetchone()
        if row is None:
            raise UserError(f"user {username!r} already exists")
        _audit(conn, "user.create", username, {"role": role.label})


def prepare_auth(settings: ApiSettings) -> str:
    """Call before serving: migrates, then creates the env admin (production) or fresh demo users (demo).

    Returns text to print at start-up (the demo passwords; empty in production). Raises
    AuthSetupError in production when no enabled admin exists.
    """
    url = settings.database_url
    if not url:
        from plantctl.db import database_url
        url = database_url()
    apply_migrations(url)
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        if settings.admin_user and settings.admin_password:
            with conn.transaction():
                row = conn.execute(
                    "INSERT INTO api_users (username, password_hash, role) VALUES (%s, %s, 'admin') "
                    "ON CONFLICT (username) DO NOTHING RETURNING id",
                    (check_username(settings.admin_user),
                     hash_password(settings.admin_password.get_secret_value()))).fetchone()
                if row is not None:
                    _audit(conn, "user.create", settings.admin_user, {"role": "admin", "from": "environment"})
        if settings.mode == "demo":
            return _reset_demo_users(conn)
    check_production_admin(url)
    return ""


def _reset_demo_users(conn: psycopg.Connection[object]) -> str:
    """Fresh passwords for the demo users; an account of the same name that is not a demo account is left alone."""
    lines = ["DEMO MODE — demo users with fresh random passwords (valid until the next start):"]
    reset: list[str] = []
    with conn.transaction():
        for name in DEMO_USERS:
            password = random_password()
            row = conn.execute(
                "INSERT INTO api_users (username, password_hash, role, demo) VALUES (%s, %s, %s, true) "
                "ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash, "
                "role = EXCLUDED.role, disabled = false, updated = now() WHERE api_users.demo RETURNING id",
                (name, hash_password(password), name)).fetchone()
            if row is None:
                lines.append(f"  {name:<9} (not a demo account in this database: left as it is, not usable here)")
                continue
            conn.execute("DELETE FROM api_sessions s USING api_users u WHERE s.user_id = u.id AND u.username = %s",
                         (name,))
            lines.append(f"  {name:<9} {password}")
            reset.append(name)
        _audit(conn, "user.demo_reset", ",".join(reset), {"mode": "demo"})
    return "\n".join(lines)


def demo_users(database_url: str) -> list[str]:
    """Names of the demo accounts in this database (empty if it was never migrated)."""
    with psycopg.connect(database_url, autocommit=True, connect_timeout=10) as conn:
        try:
            return [str(r[0]) for r in conn.execute("SELECT username FROM api_users WHERE demo ORDER BY username")]
        except psycopg.errors.UndefinedTable:
            return []


def remove_demo_users(database_url: str) -> list[str]:
    """`plantctl users purge-demo`: delete the demo accounts (and their sessions and tokens), audited."""
    apply_migrations(database_url)
    with psycopg.connect(database_url, autocommit=True, connect_timeout=10) as conn, conn.transaction():
        names = [str(r[0]) for r in conn.execute("DELETE FROM api_users WHERE demo RETURNING username")]
        if names:
            _audit(conn, "user.demo_purge", ",".join(sorted(names)), {"removed": sorted(names)})
    return sorted(names)


def check_production_admin(database_url: str) -> None:
    """Production refuses to start with demo accounts (their passwords were printed) or without an enabled admin
    of its own (IEC 62443-3-3 SR 1.5: no default credentials)."""
    demo = demo_users(database_url)
    if demo:
        raise AuthSetupError(
            f"production mode refuses a database with demo accounts ({', '.join(demo)}; their passwords were printed "
            "by a demo start): remove them with `plantctl users purge-demo`, or give demos a database of their own "
            "(PLANTCTL_DATABASE_URL)")
    with psycopg.connect(database_url, autocommit=True, connect_timeout=10) as conn:
        try:
            row = conn.execute("SELECT count(*) FROM api_users WHERE role = 'admin' AND NOT disabled "
                               "AND NOT demo").fetchone()
        except psycopg.errors.UndefinedTable:  # never migrated: certainly no admin yet
            row = None
    if not row or int(row[0]) == 0:
        raise AuthSetupError(
            "production mode needs an administrator: run `plantctl users add NAME --role admin`, or set "
            "PLANTCTL_ADMIN_USER and PLANTCTL_ADMIN_PASSWORD; or start with PLANTCTL_MODE=demo for a demo")
