"""Identification and authentication: login, cookies, logout, API tokens, throttling, start-up account rules."""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

import httpx
import psycopg
import pytest

from api.auth.bootstrap import DEMO_USERS, AuthSetupError, prepare_auth
from api.settings import ApiSettings
from tests.api.conftest import Service, create_database, login


def test_login_gives_bearer_token_and_strict_httponly_secure_cookie(service: Service) -> None:
    r = httpx.post(f"{service.base_url}/api/v1/auth/login",
                   json={"username": "viewer", "password": service.passwords["viewer"]})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer" and body["user"] == {"username": "viewer", "role": "viewer",
                                                               "disabled": False}
    cookies = {c.split("=", 1)[0]: c.lower() for c in r.headers.get_list("set-cookie")}
    session = cookies["plantctl_session"]
    assert "httponly" in session and "secure" in session and "samesite=strict" in session
    csrf = cookies["plantctl_csrf"]
    assert "httponly" not in csrf and "samesite=strict" in csrf  # script must read it to send the header
    me = httpx.get(f"{service.base_url}/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json() == {"username": "viewer", "role": "viewer", "via": "session"}


@pytest.mark.parametrize("username,password", [("viewer", "wrong-password"), ("ghost", "whatever-it-is")])
def test_bad_login_is_401_problem_and_audited(service: Service, username: str, password: str) -> None:
    r = httpx.post(f"{service.base_url}/api/v1/auth/login", json={"username": username, "password": password})
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == "unknown user, wrong password or disabled account"  # the same for both cases
    assert service.audit_rows("login_failed", username)[0]["source_address"] == "127.0.0.1"


def test_logout_ends_the_session(service: Service) -> None:
    s = login(service.base_url, "viewer", service.passwords["viewer"])
    with service.client() as c:
        assert c.post("/api/v1/auth/logout", headers=s.cookie_headers(csrf=False)).status_code == 403  # CSRF
        assert c.post("/api/v1/auth/logout", headers=s.bearer).status_code == 204
        assert c.get("/api/v1/tags", headers=s.bearer).status_code == 401
        assert c.get("/api/v1/tags", headers=s.cookie_headers()).status_code == 401


def _db(service: Service) -> psycopg.Connection[Any]:
    return psycopg.connect(service.server.database_url, autocommit=True)


def test_passwords_are_argon2id_hashes_at_rest(service: Service) -> None:
    with _db(service) as conn:
        rows = conn.execute("SELECT username, password_hash FROM api_users").fetchall()
    for username, stored in rows:
        assert stored.startswith("$argon2id$")
        if username in service.passwords:
            assert service.passwords[username] not in stored


def test_api_token_acts_with_its_role_is_hashed_at_rest_and_dies_when_revoked(service: Service) -> None:
    admin = service.sessions["admin"]
    with service.client() as c:
        r = c.post("/api/v1/tokens", json={"name": "scada-bridge", "role": "operator"}, headers=admin.bearer)
        assert r.status_code == 201
        issued = r.json()
        token = issued["token"]
        assert token.startswith("pct_") and issued["role"] == "operator"
        auth = {"Authorization": f"Bearer {token}"}
        assert c.get("/api/v1/auth/me", headers=auth).json() == {"username": "admin", "role": "operator",
                                                                  "via": "api-token"}
        assert c.get("/api/v1/users", headers=auth).status_code == 403  # operator, not admin
        assert c.get("/api/v1/tokens", headers=admin.bearer).json()[-1]["last_used"] is not None
        assert "token" not in c.get("/api/v1/tokens", headers=admin.bearer).json()[-1]
        with _db(service) as conn:
            row = conn.execute("SELECT token_sha256 FROM api_tokens WHERE id = %s", (issued["id"],)).fetchone()
        assert row is not None and bytes(row[0]) == hashlib.sha256(token.encode()).digest()
        assert c.delete(f"/api/v1/tokens/{issued['id']}", headers=admin.bearer).status_code == 204
        assert c.get("/api/v1/auth/me", headers=auth).status_code == 401
        # an API token is never accepted from a cookie (cookies are for browser sessions only)
        assert c.get("/api/v1/auth/me", headers={"Cookie": f"plantctl_session={token}"}).status_code == 401


def test_token_with_unknown_role_is_422(service: Service) -> None:
    with service.client() as c:
        r = c.post("/api/v1/tokens", json={"name": "x", "role": "root"}, headers=service.sessions["admin"].bearer)
    assert r.status_code == 422


def test_disabled_user_loses_sessions_and_cannot_log_in(service: Service) -> None:
    admin = service.sessions["admin"]
    password = secrets.token_urlsafe(16)
    with service.client() as c:
        assert c.post("/api/v1/users", json={"username": "temp.op", "role": "operator", "password": password},
                      headers=admin.bearer).status_code == 201
        s = login(service.base_url, "temp.op", password)
        assert c.patch("/api/v1/users/temp.op", json={"disabled": True}, headers=admin.bearer).status_code == 200
        assert c.get("/api/v1/tags", headers=s.bearer).status_code == 401
        r = c.post("/api/v1/auth/login", json={"username": "temp.op", "password": password})
        assert r.status_code == 401
        assert c.patch("/api/v1/users/admin", json={"disabled": True}, headers=admin.bearer).status_code == 409


def test_failed_logins_slow_the_same_user_and_address_with_growing_delays(service: Service) -> None:
    base = service.server.serve(service.server.app(login_free_failures=2, login_base_delay_s=1, login_max_delay_s=4))
    wrong = {"username": "operator", "password": "nope"}
    with httpx.Client(base_url=base, timeout=10) as c:
        assert [c.post("/api/v1/auth/login", json=wrong).status_code for _ in range(3)] == [401, 401, 401]
        r = c.post("/api/v1/auth/login", json={"username": "operator", "password": service.passwords["operator"]})
        assert r.status_code == 429 and r.headers["retry-after"] == "1"  # the third failure bought a 1 s delay
        assert r.headers["content-type"] == "application/problem+json"
        waits = []
        for _ in range(3):  # each further failure doubles the delay, up to login_max_delay_s
            time.sleep(int(c.post("/api/v1/auth/login", json=wrong).headers.get("retry-after", "0")))
            r = c.post("/api/v1/auth/login", json=wrong)
            assert r.status_code == 401, r.text
            waits.append(int(c.post("/api/v1/auth/login", json=wrong).headers["retry-after"]))
        assert waits == [2, 4, 4]
        # another user from the same address is not slowed by operator's failures
        assert c.post("/api/v1/auth/login", json={"username": "viewer",
                                                  "password": service.passwords["viewer"]}).status_code == 200


def test_production_refuses_to_start_without_an_admin(db_server: Any) -> None:
    name = f"api_noadmin_{secrets.token_hex(4)}"
    url = create_database(db_server, name)
    try:
        with pytest.raises(AuthSetupError, match="plantctl users add"):
            prepare_auth(ApiSettings(mode="production", database_url=url))
    finally:
        db_server.drop_database(name)


def test_settings_refuse_a_short_env_admin_password() -> None:
    with pytest.raises(ValueError, match="at least 12"):
        ApiSettings(admin_user="admin", admin_password="short")
    with pytest.raises(ValueError, match="together"):
        ApiSettings(admin_user="admin")


def test_demo_mode_creates_demo_users_with_fresh_random_passwords(db_server: Any) -> None:
    name = f"api_demo_{secrets.token_hex(4)}"
    url = create_database(db_server, name)
    try:
        first = prepare_auth(ApiSettings(mode="demo", database_url=url))
        second = prepare_auth(ApiSettings(mode="demo", database_url=url))
        pw1 = dict(line.split() for line in first.splitlines()[1:])
        pw2 = dict(line.split() for line in second.splitlines()[1:])
        assert set(pw1) == set(DEMO_USERS) == set(pw2)
        assert all(len(p) >= 16 and pw1[u] != pw2[u] for u, p in pw2.items())
        with psycopg.connect(url, autocommit=True) as conn:
            roles = dict(conn.execute("SELECT username, role FROM api_users").fetchall())
        assert roles == {u: u for u in DEMO_USERS}
    finally:
        db_server.drop_database(name)


def test_users_add_command_creates_an_admin_that_unblocks_production(db_server: Any,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from api.auth.bootstrap import check_production_admin
    from api.cli import users_app

    name = f"api_cli_{secrets.token_hex(4)}"
    url = create_database(db_server, name)
    monkeypatch.setenv("PLANTCTL_DATABASE_URL", url)
    try:
        short = CliRunner().invoke(users_app, ["add", "chief", "--role", "admin"], input="short\nshort\n")
        assert short.exit_code == 2 and "at least 12" in short.output
        with pytest.raises(AuthSetupError):
            check_production_admin(url)
        pw = secrets.token_urlsafe(16)
        ok = CliRunner().invoke(users_app, ["add", "chief", "--role", "admin"], input=f"{pw}\n{pw}\n")
        assert ok.exit_code == 0, ok.output
        check_production_admin(url)  # no longer raises
        again = CliRunner().invoke(users_app, ["add", "chief", "--role", "admin"], input=f"{pw}\n{pw}\n")
        assert again.exit_code == 2 and "already exists" in again.output
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("SELECT role, password_hash FROM api_users WHERE username = 'chief'").fetchone()
            audit = conn.execute("SELECT actor, new_value FROM audit_log WHERE action = 'user.create'").fetchone()
        assert row is not None and row[0] == "admin" and row[1].startswith("$argon2id$")
        assert audit is not None and audit[0].startswith("cli:") and audit[1] == {"role": "admin"}
    finally:
        db_server.drop_database(name)
