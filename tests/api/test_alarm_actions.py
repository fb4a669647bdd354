"""Alarm actions through AlarmService: reset of a latched alarm (operator), out of service and return (engineer,
with a reason); each journaled and audited in the one record shape."""

from __future__ import annotations

from plantctl.quality import Quality
from plantctl.samples import Sample, utcnow
from tests.api.conftest import Service

ALARM = "P-202.FAULT"  # latching in the example plant: a pump trip stays in alarm until an operator resets it


def _fault(service: Service, on: bool) -> None:
    service.server.publish([Sample("P-202.FAULT", utcnow(), 1.0 if on else 0.0, Quality.GOOD)])


def test_a_latched_alarm_is_reset_by_an_operator_after_acknowledgement_and_audited(service: Service) -> None:
    op = service.sessions["operator"].bearer
    url = f"/api/v1/alarms/{ALARM}"
    with service.client() as c:
        _fault(service, True)
        _fault(service, False)  # the trip clears; the alarm holds (latched)
        state = c.get(url, headers=op).json()
        assert state["latched"] and not state["active"] and state["state"] == "UNACK", state
        r = c.post(f"{url}/reset", json={"comment": "too early"}, headers=op)
        assert r.status_code == 409 and "acknowledge" in r.json()["detail"], r.text  # ISA-18.2: ack first
        assert c.post(f"{url}/ack", json={"comment": "pump checked"}, headers=op).status_code == 200
        assert c.get(url, headers=op).json()["latched"]
        r = c.post(f"{url}/reset", json={"comment": "motor protection reset on site"}, headers=op)
        assert r.status_code == 200, r.text
        assert r.json()["event"] == "reset" and r.json()["new_state"] == "NORM"
        after = c.get(url, headers=op).json()
        assert not after["latched"] and after["state"] == "NORM"
        assert all(a["name"] != ALARM for a in c.get("/api/v1/alarms", headers=op).json())
        again = c.post(f"{url}/reset", json={}, headers=op)
        assert again.status_code == 409 and "not latched" in again.json()["detail"]
    row = service.audit_rows("alarm_reset", ALARM)[0]
    assert row["actor"] == "operator" and row["source_address"] == "127.0.0.1"
    assert row["old_value"] == {"state": "ACKED"} and row["new_value"] == {"state": "NORM"}
    assert row["detail"] == {"comment": "motor protection reset on site", "via": "session"}


def test_out_of_service_needs_an_engineer_and_a_reason_and_is_audited(service: Service) -> None:
    url = "/api/v1/alarms/LIT-101.HH"
    before = service.audit_count()
    with service.client() as c:
        op, eng = service.sessions["operator"].bearer, service.sessions["engineer"].bearer
        r = c.post(f"{url}/out-of-service", json={"reason": "level transmitter removed"}, headers=op)
        assert r.status_code == 403 and "engineer" in r.json()["detail"]
        assert c.post(f"{url}/out-of-service", json={"reason": ""}, headers=eng).status_code == 422
        assert c.post(f"{url}/out-of-service", json={}, headers=eng).status_code == 422
        assert service.audit_count() == before
        r = c.post(f"{url}/out-of-service", json={"reason": "level transmitter removed"}, headers=eng)
        assert r.status_code == 200 and r.json()["new_state"] == "OOSRV", r.text
        assert c.post(f"{url}/out-of-service", json={"reason": "again"}, headers=eng).status_code == 409
        assert c.post(f"{url}/return-to-service", json={"reason": "refitted"}, headers=op).status_code == 403
        r = c.post(f"{url}/return-to-service", json={"reason": "transmitter refitted and checked"}, headers=eng)
        assert r.status_code == 200 and r.json()["new_state"] == "NORM", r.text
        assert c.post("/api/v1/alarms/NOPE.HH/out-of-service", json={"reason": "x"}, headers=eng).status_code == 404
    out = service.audit_rows("out_of_service", "LIT-101.HH")[0]
    assert out["actor"] == "engineer" and out["detail"] == {"reason": "level transmitter removed", "via": "session"}
    assert out["old_value"] == {"state": "NORM"} and out["new_value"] == {"state": "OOSRV"}
    back = service.audit_rows("in_service", "LIT-101.HH")[0]
    assert back["detail"]["reason"] == "transmitter refitted and checked" and back["new_value"] == {"state": "NORM"}
