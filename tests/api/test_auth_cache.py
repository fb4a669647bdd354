"""The in-process cache of resolved principals (issue 20): every change made through the API counts at once,
an expired session is refused, and nothing is served past its credential's expiry."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta

import httpx

from api.auth.principal_cache import PrincipalCache
from api.auth.roles import Role
from api.auth.store import Principal
from tests.api.conftest import Service, login

# A cache that would keep serving for a minute: what is refused below is refused by invalidation or expiry.
LONG_CACHE = {"auth_cache_ttl_s": 60}


def _base(service: Service, **settings: float) -> str:
    return service.server.serve(service.server.app(**(LONG_CACHE | settings)))


def _new_user(c: httpx.Client, service: Service, base: str, role: str) -> tuple[str, str]:
    name, password = f"cache.{secrets.token_hex(3)}", secrets.token_urlsafe(16)
    admin = login(base, "admin", service.passwords["admin"])
    r = c.post("/api/v1/users", json={"username": name, "role": role, "password": password}, headers=admin.bearer)
    assert r.status_code == 201, r.text
    return name, password


def test_role_change_counts_from_the_next_request(service: Service) -> None:
    base = _base(service)
    admin = login(base, "admin", service.passwords["admin"])
    with httpx.Client(base_url=base, timeout=10) as c:
        name, password = _new_user(c, service, base, "operator")
        s = login(base, name, password)
        assert c.get("/api/v1/auth/me", headers=s.bearer).json()["role"] == "operator"  # now cached
        assert c.get("/api/v1/auth/me", headers=s.cookie_headers()).json()["role"] == "operator"
        assert c.patch(f"/api/v1/users/{name}", json={"role": "viewer"}, headers=admin.bearer).status_code == 200
        assert c.get("/api/v1/auth/me", headers=s.bearer).json()["role"] == "viewer"
        assert c.get("/api/v1/auth/me", headers=s.cookie_headers()).json()["role"] == "viewer"


def test_disabling_a_user_ends_their_cached_sessions_and_tokens_at_once(service: Service) -> None:
    base = _base(service)
    admin = login(base, "admin", service.passwords["admin"])
    with httpx.Client(base_url=base, timeout=10) as c:
        name, password = _new_user(c, service, base, "admin")
        s = login(base, name, password)
        r = c.post("/api/v1/tokens", json={"name": "bridge", "role": "viewer"}, headers=s.bearer)
        assert r.status_code == 201, r.text
        token = {"Authorization": f"Bearer {r.json()['token']}"}
        assert c.get("/api/v1/live", headers=s.bearer).status_code == 200
        assert c.get("/api/v1/live", headers=token).status_code == 200
        assert c.patch(f"/api/v1/users/{name}", json={"disabled": True}, headers=admin.bearer).status_code == 200
        assert c.get("/api/v1/live", headers=s.bearer).status_code == 401
        assert c.get("/api/v1/live", headers=token).status_code == 401


def test_password_change_ends_cached_sessions(service: Service) -> None:
    base = _base(service)
    admin = login(base, "admin", service.passwords["admin"])
    with httpx.Client(base_url=base, timeout=10) as c:
        name, password = _new_user(c, service, base, "viewer")
        s = login(base, name, password)
        assert c.get("/api/v1/live", headers=s.bearer).status_code == 200
        r = c.patch(f"/api/v1/users/{name}", json={"password": secrets.token_urlsafe(16)}, headers=admin.bearer)
        assert r.status_code == 200, r.text
        assert c.get("/api/v1/live", headers=s.bearer).status_code == 401


def test_revoked_token_and_ended_session_are_refused_at_once(service: Service) -> None:
    base = _base(service)
    admin = login(base, "admin", service.passwords["admin"])
    with httpx.Client(base_url=base, timeout=10) as c:
        r = c.post("/api/v1/tokens", json={"name": "historian-export", "role": "viewer"}, headers=admin.bearer)
        issued = r.json()
        token = {"Authorization": f"Bearer {issued['token']}"}
        assert c.get("/api/v1/live", headers=token).status_code == 200
        assert c.delete(f"/api/v1/tokens/{issued['id']}", headers=admin.bearer).status_code == 204
        assert c.get("/api/v1/live", headers=token).status_code == 401
        s = login(base, "viewer", service.passwords["viewer"])
        assert c.get("/api/v1/live", headers=s.cookie_headers()).status_code == 200  # cached via the cookie
        assert c.post("/api/v1/auth/logout", headers=s.bearer).status_code == 204
        assert c.get("/api/v1/live", headers=s.cookie_headers()).status_code == 401
        assert c.get("/api/v1/live", headers=s.bearer).status_code == 401


def test_a_session_is_refused_once_expired_though_its_cache_entry_is_young(service: Service) -> None:
    base = _base(service, session_ttl_s=2)
    with httpx.Client(base_url=base, timeout=10) as c:
        s = login(base, "viewer", service.passwords["viewer"])
        expires = time.monotonic() + 2
        assert c.get("/api/v1/live", headers=s.bearer).status_code == 200
        time.sleep(max(0.0, expires - time.monotonic()) + 0.3)
        r = c.get("/api/v1/live", headers=s.bearer)
        assert r.status_code == 401
        assert r.json()["detail"] == "the token is unknown, expired or revoked"


class Clock:
    def __init__(self) -> None:
        self.mono, self.wall = 1000.0, datetime(2026, 1, 1, tzinfo=UTC).timestamp()

    def advance(self, s: float) -> None:
        self.mono += s
        self.wall += s


def _principal(user_id: int, via: str = "session", credential: str = "abc") -> Principal:
    return Principal(user_id, f"u{user_id}", Role.VIEWER, via, credential)


def _cache(clock: Clock, ttl_s: float = 5, max_entries: int = 100) -> PrincipalCache:
    return PrincipalCache(ttl_s, max_entries, monotonic=lambda: clock.mono, wall=lambda: clock.wall)


def test_cache_entry_lives_its_ttl_and_never_past_the_credentials_expiry() -> None:
    clock = Clock()
    cache = _cache(clock)
    now = datetime.fromtimestamp(clock.wall, UTC)
    cache.put(b"long", False, _principal(1), now + timedelta(hours=8), cache.generation)
    cache.put(b"short", False, _principal(2), now + timedelta(seconds=2), cache.generation)
    cache.put(b"token", False, _principal(3, "api-token", "token-7"), None, cache.generation)
    clock.advance(1.9)
    assert cache.get(b"long", False) is not None and cache.get(b"short", False) is not None
    assert cache.get(b"long", True) is None  # the cookie's principal is another entry (it carries the CSRF digest)
    clock.advance(0.1)
    assert cache.get(b"short", False) is None  # its session expired: not served, though the TTL has 3 s left
    clock.advance(2.9)
    assert cache.get(b"long", False) is not None and cache.get(b"token", False) is not None
    clock.advance(0.1)
    assert cache.get(b"long", False) is None and cache.get(b"token", False) is None
    assert len(cache) == 0


def test_cache_is_bounded_and_refuses_a_lookup_older_than_a_change() -> None:
    clock = Clock()
    cache = _cache(clock, max_entries=3)
    for i in range(5):
        cache.put(bytes([i]), False, _principal(i), None, cache.generation)
    assert len(cache) == 3 and cache.get(bytes([0]), False) is None and cache.get(bytes([4]), False) is not None
    before = cache.generation
    cache.forget_api_token(99)  # a revoke committed while a lookup was in flight
    cache.put(b"late", False, _principal(9), None, before)
    assert cache.get(b"late", False) is None
    cache.put(b"t", False, _principal(9, "api-token", "token-99"), None, cache.generation)
    cache.forget_api_token(99)
    assert cache.get(b"t", False) is None and cache.get(bytes([4]), False) is not None
    cache.forget_user(4)
    assert cache.get(bytes([4]), False) is None
    disabled = _cache(clock, ttl_s=0)
    disabled.put(b"x", False, _principal(1), None, disabled.generation)
    assert disabled.get(b"x", False) is None
