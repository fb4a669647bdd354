"""Finding 7: API docs from our own pinned copy behind login under the CSP, /openapi.json behind login, the
Host header checked, no server banner, strict booleans/dates/tag filters, weak passwords refused by the API."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from api.routers.panel import REPO
from tests.api.conftest import Session
from tests.security.conftest import SecurityPlant
from tests.security.test_headers import csp


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/docs/assets/swagger-ui-bundle.js"])
def test_docs_and_schema_need_a_login(running: tuple[str, Session], path: str) -> None:
    base, admin = running
    assert httpx.get(f"{base}{path}", timeout=10).status_code == 401
    assert httpx.get(f"{base}{path}", headers=admin.bearer, timeout=10).status_code == 200


def test_redoc_is_not_served(running: tuple[str, Session]) -> None:
    base, admin = running
    assert httpx.get(f"{base}/redoc", headers=admin.bearer, timeout=10).status_code == 404


def test_docs_page_loads_only_our_pinned_swagger_ui_under_the_panel_csp(plant: SecurityPlant,
                                                                         running: tuple[str, Session]) -> None:
    base, _ = running
    viewer = plant.login(base, "viewer")
    page = httpx.get(f"{base}/docs", headers=viewer.cookie_headers(csrf=False), timeout=10)
    assert page.status_code == 200
    policy = csp(page)
    assert policy.get("script-src") == ["'self'"] and policy.get("style-src") == ["'self'"]
    refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert refs and all(r.startswith("/docs/assets/") for r in refs), refs
    assert not re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page.text), "inline script the CSP would block"
    lock = json.loads((REPO / "package-lock.json").read_text(encoding="utf-8"))
    pinned = lock["packages"]["node_modules/swagger-ui-dist"]["version"]
    bundle = httpx.get(f"{base}/docs/assets/swagger-ui-bundle.js", headers=viewer.bearer, timeout=10)
    assert bundle.status_code == 200 and bundle.headers["content-type"].startswith("text/javascript")
    assert pinned in bundle.text  # the very version package-lock.json pins
    assert httpx.get(f"{base}/docs/assets/..%2Fpackage.json", headers=viewer.bearer, timeout=10).status_code == 404


def test_host_header_is_checked(running: tuple[str, Session]) -> None:
    base, admin = running
    port = base.rsplit(":", 1)[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
        assert httpx.get(f"{base}/healthz", headers={"Host": host}, timeout=10).status_code == 200, host
    r = httpx.get(f"{base}/api/v1/live/stream", timeout=10,
                  headers={**admin.bearer, "Host": f"attacker.example:{port}", "Origin": f"http://attacker.example:{port}"})
    assert r.status_code == 400 and r.json()["type"] == "urn:plantctl:problem:host"


def test_configured_hosts_are_accepted(plant: SecurityPlant) -> None:
    base = plant.serve(allowed_hosts=["*.plant.example"])
    assert httpx.get(f"{base}/healthz", headers={"Host": "hmi.plant.example"}, timeout=10).status_code == 200
    assert httpx.get(f"{base}/healthz", headers={"Host": "plant.example.evil"}, timeout=10).status_code == 400


def test_no_server_banner(running: tuple[str, Session]) -> None:
    base, _ = running
    r = httpx.get(f"{base}/healthz", timeout=10)
    assert "server" not in r.headers, r.headers.get("server")


@pytest.mark.parametrize("value", [False, True, "1", None])
def test_a_loop_output_must_be_a_number(running: tuple[str, Session], value: object) -> None:
    base, admin = running
    r = httpx.put(f"{base}/api/v1/loops/PHC-101/output", json={"value": value}, headers=admin.bearer, timeout=10)
    assert r.status_code == 422 and r.json()["type"] == "urn:plantctl:problem:validation", r.text


@pytest.mark.parametrize("end", ["263", "1733356800", "yesterday", "2026-11-27"])
def test_a_date_is_iso_text_with_a_time(running: tuple[str, Session], end: str) -> None:
    base, admin = running
    r = httpx.get(f"{base}/api/v1/trends", params={"tag": "AIT-101", "start": "2026-11-26T00:00:00Z", "end": end},
                  headers=admin.bearer, timeout=10)
    assert r.status_code == 422 and "ISO 8601" in r.json()["detail"], r.text


@pytest.mark.parametrize("query", ["tag=", "tag=,", "tag=%20"])
def test_an_empty_tag_filter_is_refused(running: tuple[str, Session], query: str) -> None:
    base, admin = running
    r = httpx.get(f"{base}/api/v1/live?{query}", headers=admin.bearer, timeout=10)
    assert r.status_code == 422 and "names no tag" in r.json()["detail"], r.text
    assert httpx.get(f"{base}/api/v1/live", headers=admin.bearer, timeout=10).status_code == 200


def test_invalid_utf8_body_is_a_documented_400(running: tuple[str, Session]) -> None:
    base, admin = running
    r = httpx.put(f"{base}/api/v1/loops/PHC-101/setpoint", content=b'{"value": "\xff\xfe"}',
                  headers={**admin.bearer, "Content-Type": "application/json"}, timeout=10)
    assert r.status_code in (400, 422) and r.headers["content-type"] == "application/problem+json", r.text
    spec = httpx.get(f"{base}/openapi.json", headers=admin.bearer, timeout=10).json()
    assert "400" in spec["paths"]["/api/v1/loops/{name}/setpoint"]["put"]["responses"]


@pytest.mark.parametrize("password", ["Password1234", "iloveyou2024", "abcdefghijklm", "qwertyuiop123"])
def test_the_api_refuses_common_passwords(running: tuple[str, Session], password: str) -> None:
    base, admin = running
    r = httpx.post(f"{base}/api/v1/users", json={"username": "weak.one", "role": "viewer", "password": password},
                   headers=admin.bearer, timeout=10)
    assert r.status_code == 422 and r.json()["type"] == "urn:plantctl:problem:weak-password", r.text
    assert password not in r.text
    r = httpx.patch(f"{base}/api/v1/users/admin", json={"password": password}, headers=admin.bearer, timeout=10)
    assert r.status_code == 422 and r.json()["type"] == "urn:plantctl:problem:weak-password", r.text
