"""Finding 1: a forwarded-for header is believed only from a configured trusted proxy.

Before the fix uvicorn trusted X-Forwarded-For from loopback: a client on the host chose the audit trail's
source_address and walked around the per-address login limit by rotating the header.
"""

from __future__ import annotations

import httpx
import psycopg
import pytest
from starlette.requests import Request

from api.proxy import client_address
from api.settings import ApiSettings
from tests.security.conftest import SecurityPlant


def login_rows(url: str, username: str) -> list[tuple[str, str]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [(str(a), str(s)) for a, s in conn.execute(
            "SELECT action, source_address FROM audit_log WHERE target = %s AND action IN ('login', 'login_failed') "
            "ORDER BY id DESC LIMIT 50", (username,))]


def test_forwarded_for_is_ignored_by_default(plant: SecurityPlant) -> None:
    base = plant.serve()
    r = httpx.post(f"{base}/api/v1/auth/login", json={"username": "viewer", "password": plant.passwords["viewer"]},
                   headers={"X-Forwarded-For": "203.0.113.66"}, timeout=10)
    assert r.status_code == 200
    action, address = login_rows(plant.database_url, "viewer")[0]
    assert action == "login" and address == "127.0.0.1", address


def test_rotating_forwarded_for_does_not_escape_the_address_throttle(plant: SecurityPlant) -> None:
    base = plant.serve(login_address_free_failures=5, login_free_failures=100)
    with httpx.Client(base_url=base, timeout=10) as c:
        codes = [c.post("/api/v1/auth/login", json={"username": f"spray{i}", "password": "x"},
                        headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code for i in range(8)]
    assert codes[:5] == [401] * 5 and 429 in codes[5:], codes


def test_trusted_proxy_forwards_the_client_and_the_audit_keeps_both(plant: SecurityPlant) -> None:
    base = plant.serve(trusted_proxies=["127.0.0.1"])
    r = httpx.post(f"{base}/api/v1/auth/login",
                   json={"username": "engineer", "password": plant.passwords["engineer"]},
                   headers={"X-Forwarded-For": "10.9.8.7, 192.0.2.10"}, timeout=10)
    assert r.status_code == 200
    action, address = login_rows(plant.database_url, "engineer")[0]
    assert (action, address) == ("login", "192.0.2.10 via 127.0.0.1")  # rightmost untrusted hop, and the peer


@pytest.mark.parametrize(("peer", "header", "trusted", "expected"), [
    ("127.0.0.1", ["1.2.3.4"], [], None),  # nothing trusted: header ignored
    ("10.0.0.9", ["1.2.3.4"], ["127.0.0.1"], None),  # peer is not a trusted proxy
    ("127.0.0.1", ["1.2.3.4"], ["127.0.0.1"], "1.2.3.4"),
    ("10.0.0.2", ["1.2.3.4, 10.0.0.1"], ["10.0.0.0/24"], "1.2.3.4"),  # a chain of trusted proxies is skipped
    ("127.0.0.1", ["forged, 1.2.3.4"], ["127.0.0.1"], "1.2.3.4"),  # only hops our proxy appended count
    ("127.0.0.1", ["1.2.3.4, not-an-ip"], ["127.0.0.1"], None),  # garbage from the proxy: believe nothing
    ("::1", ["2001:db8::5"], ["::1"], "2001:db8::5"),
])
def test_client_address_rules(peer: str, header: list[str], trusted: list[str], expected: str | None) -> None:
    request = Request({"type": "http", "client": (peer, 40000),
                       "headers": [(b"x-forwarded-for", v.encode()) for v in header]})
    assert client_address(request, trusted).forwarded == expected


def test_a_bad_trusted_proxy_entry_is_refused_by_the_settings() -> None:
    with pytest.raises(ValueError, match="not-an-address"):
        ApiSettings(trusted_proxies=["not-an-address"])
