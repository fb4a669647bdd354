"""Finding 4: extreme dates are a 422 naming the allowed range, not a 500; and every error answer, the 500 path
included, is problem+json with the security headers (the error middleware used to sit outside the headers')."""

from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import Session
from tests.security.conftest import SecurityPlant
from tests.security.test_headers import assert_common, csp

EXTREMES = [
    ("9999-12-31T23:59:58Z", "9999-12-31T23:59:59.999999Z"),
    ("0001-01-01T00:00:00+23:59", "0001-01-02T00:00:00Z"),
    ("1899-12-31T00:00:00Z", "2026-01-01T00:00:00Z"),
    ("2026-01-01T00:00:00Z", "2500-01-01T00:00:00Z"),
]


@pytest.mark.parametrize("path", ["/api/v1/trends", "/api/v1/trends/csv"])
@pytest.mark.parametrize(("start", "end"), EXTREMES)
def test_dates_outside_the_supported_range_are_422_with_the_range(running: tuple[str, Session], path: str,
                                                                   start: str, end: str) -> None:
    base, admin = running
    r = httpx.get(f"{base}{path}", params={"tag": "AIT-101", "start": start, "end": end},
                  headers=admin.bearer, timeout=10)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert "1900-01-01T00:00:00Z to 2500-01-01T00:00:00Z" in r.json()["detail"]
    assert_common(r)


@pytest.mark.parametrize("path", ["/api/v1/alarms/history", "/api/v1/audit"])
def test_other_date_parameters_have_the_same_rule(running: tuple[str, Session], path: str) -> None:
    base, admin = running
    r = httpx.get(f"{base}{path}", params={"start": "0001-01-01T00:00:00+23:59"},
                  headers=admin.bearer, timeout=10)
    assert r.status_code == 422 and "supported range" in r.json()["detail"], r.text


def test_an_unexpected_failure_is_a_problem_with_every_security_header(plant: SecurityPlant) -> None:
    app = plant.server.app()

    @app.get("/api/v1/test-only/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    base = plant.server.serve(app)
    r = httpx.get(f"{base}/api/v1/test-only/boom", timeout=10)
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["type"] == "urn:plantctl:problem:internal" and body["request_id"] and "a bug" not in r.text
    assert_common(r)
    assert csp(r).get("default-src") == ["'self'"] and r.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(("method", "path"), [("GET", "/no/such/path"), ("DELETE", "/api/v1/tags"),
                                              ("GET", "/api/v1/trends?tag=AIT-101")])
def test_plain_http_errors_are_problems_with_the_headers(running: tuple[str, Session], method: str,
                                                         path: str) -> None:
    base, admin = running
    r = httpx.request(method, f"{base}{path}", headers=admin.bearer, timeout=10)
    assert 400 <= r.status_code < 500 and r.headers["content-type"] == "application/problem+json", r.text
    assert_common(r)
