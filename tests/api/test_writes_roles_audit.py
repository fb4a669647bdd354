"""Every write: refused without credentials and for each role below the one it needs; accepted ones are audited."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pytest

from plantctl.quality import Quality
from plantctl.samples import Sample, utcnow
from tests.api.conftest import ROLES, Service


@dataclass(frozen=True)
class Write:
    method: str
    path: str
    body: dict[str, Any] | None
    role: str  # the lowest role allowed


WRITES = [
    Write("POST", "/api/v1/alarms/P-201.FAULT/ack", {"comment": "seen"}, "operator"),
    Write("POST", "/api/v1/alarms/LIT-101.HH/shelve", {"reason": "level probe swap", "duration_s": 600}, "operator"),
    Write("POST", "/api/v1/alarms/LIT-101.HH/unshelve", {"comment": "probe back"}, "operator"),
    Write("PUT", "/api/v1/loops/PHC-101/mode", {"mode": "MAN"}, "operator"),
    Write("PUT", "/api/v1/loops/PHC-101/setpoint", {"value": 7.2}, "operator"),
    Write("PUT", "/api/v1/loops/PHC-101/output", {"value": 10}, "operator"),
    Write("POST", "/api/v1/users", {"username": "nobody", "role": "viewer", "password": "tall-ladder-sea-7"}, "admin"),
    Write("PATCH", "/api/v1/users/viewer", {"role": "viewer"}, "admin"),
    Write("POST", "/api/v1/tokens", {"name": "scraper", "role": "viewer"}, "admin"),
    Write("DELETE", "/api/v1/tokens/999999", None, "admin"),
]
IDS = [f"{w.method} {w.path}" for w in WRITES]


@pytest.mark.parametrize("write", WRITES, ids=IDS)
def test_write_refused_without_credentials(service: Service, write: Write) -> None:
    before = service.audit_count()
    with service.client() as c:
        r = c.request(write.method, write.path, json=write.body)
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert service.audit_count() == before


@pytest.mark.parametrize("write", WRITES, ids=IDS)
def test_write_refused_for_each_role_below(service: Service, write: Write) -> None:
    below = ROLES[:ROLES.index(write.role)]
    assert below, "every write needs at least operator"
    before = service.audit_count()
    with service.client() as c:
        for role in below:
            r = c.request(write.method, write.path, json=write.body, headers=service.sessions[role].bearer)
            assert r.status_code == 403, (role, r.text)
            problem = r.json()
            assert problem["status"] == 403 and write.role in problem["detail"]
    assert service.audit_count() == before


def test_write_with_bad_token_is_401(service: Service) -> None:
    with service.client() as c:
        r = c.put("/api/v1/loops/PHC-101/setpoint", json={"value": 7.1},
                  headers={"Authorization": "Bearer pcs_not-a-real-session"})
    assert r.status_code == 401


# --- accepted writes land in the audit trail with who, what, old/new and from where ------------------------


def _fresh_pv(service: Service, value: float = 7.0) -> None:
    service.publish_healthy_plant(value)


def test_loop_writes_are_audited_with_old_and_new(service: Service) -> None:
    op = service.sessions["operator"]
    _fresh_pv(service)
    with service.client() as c:
        before = c.get("/api/v1/loops/PHC-101", headers=op.bearer).json()
        r = c.put("/api/v1/loops/PHC-101/mode", json={"mode": "MAN", "reason": "test"}, headers=op.bearer)
        assert r.status_code == 200 and r.json()["mode"] == "MAN"
        r = c.put("/api/v1/loops/PHC-101/output", json={"value": 12.5}, headers=op.bearer)
        assert r.status_code == 200, r.text
        r = c.put("/api/v1/loops/PHC-101/setpoint", json={"value": 7.3}, headers=op.bearer)
        assert r.status_code == 200 and r.json()["setpoint"] == 7.3
        r = c.put("/api/v1/loops/PHC-101/mode", json={"mode": "AUTO"}, headers=op.bearer)
        assert r.status_code == 200, r.text
        assert r.json()["mode"] == "AUTO"
    sp = service.audit_rows("setpoint", "PHC-101")[0]
    assert sp["actor"] == "operator" and sp["source_address"] == "127.0.0.1"
    assert sp["old_value"] == {"value": before["setpoint"], "unit": "pH"}
    assert sp["new_value"] == {"value": 7.3, "unit": "pH"}
    out = service.audit_rows("manual_output", "PHC-101")[0]
    assert out["actor"] == "operator" and out["new_value"] == {"value": 12.5, "unit": "%"}
    mode = service.audit_rows("mode", "PHC-101")[0]
    assert mode["old_value"] == {"mode": "MAN"} and mode["new_value"] == {"mode": "AUTO"}
    assert (utcnow() - sp["ts"]).total_seconds() < 30
    # back to MAN for the other tests
    with service.client() as c:
        assert c.put("/api/v1/loops/PHC-101/mode", json={"mode": "MAN"}, headers=op.bearer).status_code == 200


def test_loop_setpoint_outside_limits_is_422_with_reason_and_not_audited(service: Service) -> None:
    op = service.sessions["operator"]
    n = len(service.audit_rows("setpoint", "PHC-101"))
    with service.client() as c:
        r = c.put("/api/v1/loops/PHC-101/setpoint", json={"value": 11.0}, headers=op.bearer)
        assert r.status_code == 422
        assert r.json()["type"] == "urn:plantctl:problem:out-of-range"
        assert "outside [6.5, 8.5]" in r.json()["detail"]
        assert c.get("/api/v1/loops/PHC-101", headers=op.bearer).json()["setpoint"] != 11.0
    assert len(service.audit_rows("setpoint", "PHC-101")) == n


def test_manual_output_in_auto_is_409(service: Service) -> None:
    op = service.sessions["operator"]
    _fresh_pv(service)
    with service.client() as c:
        assert c.put("/api/v1/loops/PHC-101/mode", json={"mode": "AUTO"}, headers=op.bearer).status_code == 200
        r = c.put("/api/v1/loops/PHC-101/output", json={"value": 50}, headers=op.bearer)
        assert r.status_code == 409 and "only in MAN" in r.json()["detail"]
        assert c.put("/api/v1/loops/PHC-101/mode", json={"mode": "MAN"}, headers=op.bearer).status_code == 200
        r = c.put("/api/v1/loops/PHC-101/output", json={"value": 1000}, headers=op.bearer)
        assert r.status_code == 422 and "outside" in r.json()["detail"]


def test_auto_refused_when_pv_is_bad_is_409_with_reason(service: Service) -> None:
    op = service.sessions["operator"]
    now = utcnow()  # one electrode Bad: the vote carries on with two; two Bad: it is lost
    service.server.publish([Sample("AIT-101", now, 0.0, Quality.BAD_SENSOR_FAILURE, "electrode broken"),
                            Sample("AIT-104", now, 0.0, Quality.BAD_SENSOR_FAILURE, "cable cut")])
    with service.client() as c:
        r = c.put("/api/v1/loops/PHC-101/mode", json={"mode": "AUTO"}, headers=op.bearer)
    assert r.status_code == 409
    assert "vote lost" in r.json()["detail"] and "electrode broken" in r.json()["detail"]
    _fresh_pv(service)


def test_alarm_ack_is_audited_and_journaled(service: Service) -> None:
    op = service.sessions["operator"]
    service.server.publish([Sample("P-201.FAULT", utcnow(), 1.0, Quality.GOOD)])
    with service.client() as c:
        shown = c.get("/api/v1/alarms", headers=op.bearer).json()
        assert any(a["name"] == "P-201.FAULT" and a["state"] == "UNACK" for a in shown)
        r = c.post("/api/v1/alarms/P-201.FAULT/ack", json={"comment": "pump tripped, reset"}, headers=op.bearer)
        assert r.status_code == 200, r.text
        assert r.json()["new_state"] == "ACKED"
        again = c.post("/api/v1/alarms/P-201.FAULT/ack", json={}, headers=op.bearer)
        assert again.status_code == 409
    row = service.audit_rows("ack", "P-201.FAULT")[0]
    assert row["actor"] == "operator" and row["source_address"] == "127.0.0.1"
    assert row["old_value"] == {"state": "UNACK"} and row["new_value"] == {"state": "ACKED"}
    assert row["detail"]["comment"] == "pump tripped, reset"
    assert service.server.journal is not None
    service.server.run(service.server.journal.flush())
    with service.client() as c:
        hist = c.get("/api/v1/alarms/history", params={"alarm": "P-201.FAULT"}, headers=op.bearer).json()
    assert [h["event"] for h in hist][-1] == "ack" and hist[-1]["user"] == "operator"


def test_alarm_shelve_and_unshelve_are_audited(service: Service) -> None:
    op = service.sessions["operator"]
    with service.client() as c:
        r = c.post("/api/v1/alarms/LIT-101.LL/shelve", json={"reason": "tank drained for inspection",
                                                              "duration_s": 1800}, headers=op.bearer)
        assert r.status_code == 200, r.text
        state = c.get("/api/v1/alarms/LIT-101.LL", headers=op.bearer).json()
        assert state["state"] == "SHLVD" and state["shelve_reason"] == "tank drained for inspection"
        assert c.post("/api/v1/alarms/LIT-101.LL/shelve", json={"reason": "again", "duration_s": 60},
                      headers=op.bearer).status_code == 409
        r = c.post("/api/v1/alarms/LIT-101.LL/unshelve", json={"comment": "inspection done"}, headers=op.bearer)
        assert r.status_code == 200 and r.json()["new_state"] == "NORM"
    shelve = service.audit_rows("shelve", "LIT-101.LL")[0]
    assert shelve["actor"] == "operator" and shelve["detail"]["reason"] == "tank drained for inspection"
    assert shelve["new_value"]["duration_s"] == 1800
    assert service.audit_rows("unshelve", "LIT-101.LL")[0]["old_value"] == {"state": "SHLVD"}


def test_shelve_needs_a_reason_and_a_bounded_duration(service: Service) -> None:
    op = service.sessions["operator"]
    with service.client() as c:
        r = c.post("/api/v1/alarms/LIT-101.LL/shelve", json={"reason": ""}, headers=op.bearer)
        assert r.status_code == 422 and r.json()["type"] == "urn:plantctl:problem:validation"
        r = c.post("/api/v1/alarms/LIT-101.LL/shelve", json={"reason": "x", "duration_s": 30 * 86400},
                   headers=op.bearer)
        assert r.status_code == 422
        assert c.post("/api/v1/alarms/NOPE/ack", json={}, headers=op.bearer).status_code == 404


def test_user_and_token_administration_is_audited(service: Service) -> None:
    admin = service.sessions["admin"]
    with service.client() as c:
        r = c.post("/api/v1/users", json={"username": "j.smith", "role": "operator", "password": "amber-kettle-42"},
                   headers=admin.bearer)
        assert r.status_code == 201, r.text
        assert c.post("/api/v1/users", json={"username": "j.smith", "role": "operator", "password": "amber-kettle-42"},
                      headers=admin.bearer).status_code == 409
        r = c.patch("/api/v1/users/j.smith", json={"role": "engineer"}, headers=admin.bearer)
        assert r.status_code == 200 and r.json()["role"] == "engineer"
        r = c.post("/api/v1/tokens", json={"name": "historian-export", "role": "viewer"}, headers=admin.bearer)
        assert r.status_code == 201
        token_id = r.json()["id"]
        assert c.delete(f"/api/v1/tokens/{token_id}", headers=admin.bearer).status_code == 204
    create = service.audit_rows("user_create", "j.smith")[0]
    assert create["actor"] == "admin" and create["new_value"] == {"role": "operator"}
    update = service.audit_rows("user_update", "j.smith")[0]
    assert update["old_value"]["role"] == "operator" and update["new_value"]["role"] == "engineer"
    assert service.audit_rows("token_create", f"token-{token_id}")[0]["new_value"]["name"] == "historian-export"
    assert service.audit_rows("token_revoke", f"token-{token_id}")[0]["actor"] == "admin"


def test_audit_trail_query_needs_engineer_and_filters(service: Service) -> None:
    with service.client() as c:
        assert c.get("/api/v1/audit", headers=service.sessions["operator"].bearer).status_code == 403
        r = c.get("/api/v1/audit", params={"action": "login", "limit": 2}, headers=service.sessions["engineer"].bearer)
        assert r.status_code == 200
        page = r.json()
        assert page["entries"] and all(e["action"] == "login" for e in page["entries"])
        if page["next_cursor"]:
            older = c.get("/api/v1/audit", params={"action": "login", "limit": 2, "cursor": page["next_cursor"]},
                          headers=service.sessions["engineer"].bearer).json()
            assert {e["id"] for e in older["entries"]}.isdisjoint({e["id"] for e in page["entries"]})
        assert c.get("/api/v1/audit", params={"cursor": "garbage!"},
                     headers=service.sessions["engineer"].bearer).status_code == 422


# --- CSRF on cookie-authenticated writes ------------------------------------------------------------------


def test_cookie_write_without_csrf_header_is_refused(service: Service) -> None:
    op = service.sessions["operator"]
    n = len(service.audit_rows("setpoint", "PHC-101"))
    with service.client() as c:
        r = c.put("/api/v1/loops/PHC-101/setpoint", json={"value": 7.4}, headers=op.cookie_headers(csrf=False))
        assert r.status_code == 403 and r.json()["type"] == "urn:plantctl:problem:csrf"
        wrong = op.cookie_headers() | {"X-CSRF-Token": "forged"}
        r = c.put("/api/v1/loops/PHC-101/setpoint", json={"value": 7.4}, headers=wrong)
        assert r.status_code == 403
        # another session's CSRF token (header = cookie, but not this session's) is refused too
        other = service.sessions["engineer"].csrf
        crossed = {"Cookie": f"plantctl_session={op.session_cookie}; plantctl_csrf={other}", "X-CSRF-Token": other}
        assert c.put("/api/v1/loops/PHC-101/setpoint", json={"value": 7.4}, headers=crossed).status_code == 403
    assert len(service.audit_rows("setpoint", "PHC-101")) == n


def test_cookie_write_with_csrf_header_is_accepted_and_reads_need_none(service: Service) -> None:
    op = service.sessions["operator"]
    with service.client() as c:
        assert c.get("/api/v1/loops/PHC-101", headers=op.cookie_headers(csrf=False)).status_code == 200
        r = c.put("/api/v1/loops/PHC-101/setpoint", json={"value": 7.4}, headers=op.cookie_headers())
        assert r.status_code == 200, r.text
    row = service.audit_rows("setpoint", "PHC-101")[0]
    assert row["new_value"]["value"] == 7.4 and row["detail"]["via"] == "cookie"


def test_loop_state_shows_the_feedforward_and_its_learnt_ratio(service: Service) -> None:
    """The ratio the feedforward has learnt is what tells an engineer the influent has changed."""
    loop = service.server.loops["PHC-101"]
    now = utcnow()
    learnt = replace(loop.snapshot(now), feedforward_gain=1.37)
    service.server.call(loop.restore, learnt, now)
    with service.client() as c:
        body = c.get("/api/v1/loops/PHC-101", headers=service.sessions["viewer"].bearer).json()
    assert body["feedforward"]["gain"] == pytest.approx(1.37)
    assert body["feedforward"]["output"] == pytest.approx(loop.feedforward_output)
