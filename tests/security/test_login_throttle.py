"""Finding 2: the login throttle slows an attacker without locking real users out (IEC 62443-3-3 FR 7).

Before the fix five failures for a user name from anywhere blocked that user for 300 s, even with the right
password from elsewhere, and the per-address budget counted successful logins too.
"""

from __future__ import annotations

import logging

import httpx
import pytest

from api.auth.ratelimit import LoginThrottle
from api.settings import ApiSettings
from tests.security.conftest import SecurityPlant

ATTACKER = {"X-Forwarded-For": "198.51.100.13"}
HMI = {"X-Forwarded-For": "10.20.0.5"}


def test_an_attacker_cannot_lock_the_operator_out_of_the_hmi(plant: SecurityPlant) -> None:
    base = plant.serve(trusted_proxies=["127.0.0.1"])
    good = {"username": "operator", "password": plant.passwords["operator"]}
    with httpx.Client(base_url=base, timeout=10) as c:
        attacker = [c.post("/api/v1/auth/login", json={"username": "operator", "password": f"guess{i}"},
                           headers=ATTACKER).status_code for i in range(12)]
        assert 429 in attacker and 200 not in attacker  # the attacker is slowed down
        assert c.post("/api/v1/auth/login", json=good, headers=HMI).status_code == 200  # the HMI still logs in


def test_successful_logins_are_never_counted(plant: SecurityPlant) -> None:
    base = plant.serve()
    good = {"username": "viewer", "password": plant.passwords["viewer"]}
    with httpx.Client(base_url=base, timeout=10) as c:
        codes = [c.post("/api/v1/auth/login", json=good).status_code for _ in range(30)]
    assert codes == [200] * 30


def test_admin_sees_and_clears_throttles_and_metrics_count_them(plant: SecurityPlant) -> None:
    base = plant.serve(trusted_proxies=["127.0.0.1"], login_free_failures=1, login_base_delay_s=600,
                       login_max_delay_s=600)
    admin = plant.login(base, "admin")
    with httpx.Client(base_url=base, timeout=10) as c:
        for _ in range(3):
            c.post("/api/v1/auth/login", json={"username": "engineer", "password": "nope"}, headers=ATTACKER)
        r = c.post("/api/v1/auth/login", json={"username": "engineer", "password": plant.passwords["engineer"]},
                   headers=ATTACKER)
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 60
        assert c.get("/api/v1/auth/throttles", headers=plant.login(base, "engineer").bearer).status_code == 403
        listed = c.get("/api/v1/auth/throttles", headers=admin.bearer).json()
        mine = [e for e in listed if e["username"] == "engineer"]
        assert len(mine) == 1 and mine[0]["address"] == "198.51.100.13" and mine[0]["failures"] == 2
        assert 500 < mine[0]["retry_after_s"] <= 600
        metrics = c.get("/metrics", headers=admin.bearer).text
        assert 'plantctl_api_events_total{event="login_throttled"} 2' in metrics
        assert 'plantctl_api_events_total{event="login_backoff"}' in metrics
        r = c.delete("/api/v1/auth/throttles", params={"username": "engineer"}, headers=admin.bearer)
        assert r.status_code == 200 and r.json() == {"cleared": 1}
        assert c.post("/api/v1/auth/login", json={"username": "engineer", "password": plant.passwords["engineer"]},
                      headers=ATTACKER).status_code == 200


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_delays_double_up_to_the_ceiling_and_are_forgotten() -> None:
    clock = Clock()
    t = LoginThrottle(free_failures=2, base_delay_s=1, max_delay_s=8, address_free_failures=1000,
                      forget_after_s=900, clock=clock)
    delays = [t.failed("Operator", "a") for _ in range(7)]
    assert delays == [0, 0, 1, 2, 4, 8, 8]
    assert t.retry_after_s("operator", "a") == 8 and t.retry_after_s("operator", "b") == 0
    assert t.retry_after_s("viewer", "a") == 0
    clock.t += 901
    assert t.retry_after_s("operator", "a") == 0 and t.entries() == []


def test_a_success_clears_only_its_own_pair() -> None:
    t = LoginThrottle(free_failures=0, base_delay_s=5, max_delay_s=60, address_free_failures=1000, clock=Clock())
    t.failed("operator", "a")
    t.failed("operator", "b")
    t.succeeded("operator", "a")
    assert t.retry_after_s("operator", "a") == 0 and t.retry_after_s("operator", "b") == 5


def test_an_address_guessing_many_users_is_slowed() -> None:
    t = LoginThrottle(free_failures=100, base_delay_s=1, max_delay_s=60, address_free_failures=3, clock=Clock())
    for i in range(4):
        t.failed(f"user{i}", "a")
    assert t.retry_after_s("someone-else", "a") == 1 and t.retry_after_s("someone-else", "b") == 0


def test_the_retired_lockout_settings_are_named_not_silently_ignored(monkeypatch: pytest.MonkeyPatch,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("PLANTCTL_LOGIN_MAX_FAILURES_PER_USER", "5")
    with caplog.at_level(logging.WARNING, logger="api.settings"):
        ApiSettings()
    assert "PLANTCTL_LOGIN_MAX_FAILURES_PER_USER is no longer read" in caplog.text
