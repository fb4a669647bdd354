"""POST /api/v1/tags/{tag}/write: who may write what, refusals before anything leaves, and the write at the PLC."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from api.settings import ApiSettings
from plantctl.runtime.assemble import build_service
from sim.facade.runner import SimulatedPlc
from tests.api.conftest import EXAMPLE_PLANT, Service
from tests.support import free_port, sources_on

WRITE = "/api/v1/tags/{}/write"


# --- refusals on the package's service (no PLC link: nothing can leave it anyway) ------------------------


def test_write_without_credentials_is_401_and_not_audited(service: Service) -> None:
    before = service.audit_count()
    with service.client() as c:
        r = c.post(WRITE.format("P-201.RUN"), json={"value": 1})
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert service.audit_count() == before


def test_viewer_write_is_403_naming_the_role_needed(service: Service) -> None:
    before = service.audit_count()
    with service.client() as c:
        r = c.post(WRITE.format("P-201.RUN"), json={"value": 1}, headers=service.sessions["viewer"].bearer)
    assert r.status_code == 403
    assert "operator" in r.json()["detail"]
    assert service.audit_count() == before


def test_cookie_write_without_csrf_token_is_refused(service: Service) -> None:
    op = service.sessions["operator"]
    before = service.audit_count()
    with service.client() as c:
        r = c.post(WRITE.format("P-201.RUN"), json={"value": 1}, headers=op.cookie_headers(csrf=False))
        assert r.status_code == 403 and r.json()["type"] == "urn:plantctl:problem:csrf"
        forged = op.cookie_headers() | {"X-CSRF-Token": "forged"}
        assert c.post(WRITE.format("P-201.RUN"), json={"value": 1}, headers=forged).status_code == 403
    assert service.audit_count() == before


@pytest.mark.parametrize(("tag", "value", "expect"), [
    ("P-201.SP", 150.0, "outside its range [0, 100] %"),
    ("P-201.SP", -1.0, "outside its range [0, 100] %"),
    ("P-201.RUN", 2.0, "outside its range [0, 1] bool"),
    ("P-201.RUN", 0.5, "write 0 or 1"),
])
def test_out_of_range_is_422_with_the_limits(service: Service, tag: str, value: float, expect: str) -> None:
    before = service.audit_count()
    with service.client() as c:
        r = c.post(WRITE.format(tag), json={"value": value}, headers=service.sessions["operator"].bearer)
    assert r.status_code == 422, r.text
    assert r.json()["type"] == "urn:plantctl:problem:out-of-range"
    assert expect in r.json()["detail"]
    assert service.audit_count() == before


def test_non_finite_and_unknown_fields_are_422(service: Service) -> None:
    op = service.sessions["operator"].bearer
    with service.client() as c:
        r = c.post(WRITE.format("P-201.SP"), content=b'{"value": NaN}',
                   headers=op | {"Content-Type": "application/json"})
        assert r.status_code == 422
        assert c.post(WRITE.format("P-201.SP"), json={"value": 1, "force": True}, headers=op).status_code == 422


def test_read_only_heartbeat_and_unknown_tags_are_refused(service: Service) -> None:
    op = service.sessions["operator"].bearer
    before = service.audit_count()
    with service.client() as c:
        r = c.post(WRITE.format("AIT-101"), json={"value": 7}, headers=op)
        assert r.status_code == 409 and r.json()["type"] == "urn:plantctl:problem:not-writable"
        r = c.post(WRITE.format("PLC-1.WATCHDOG"), json={"value": 3}, headers=op)
        assert r.status_code == 409 and "heartbeat" in r.json()["detail"]
        r = c.post(WRITE.format("PLC-1.WATCHDOG.OPCUA"), json={"value": 3}, headers=op)
        assert r.status_code == 409 and "heartbeat" in r.json()["detail"]
        r = c.post(WRITE.format("P-999.RUN"), json={"value": 1}, headers=op)
        assert r.status_code == 404 and "P-999.RUN" in r.json()["detail"]
    assert service.audit_count() == before


def test_output_of_a_loop_in_auto_is_409_naming_loop_and_mode(service: Service) -> None:
    op = service.sessions["operator"].bearer
    service.publish_healthy_plant()
    before = service.audit_count()
    with service.client() as c:
        r = c.put("/api/v1/loops/PHC-101/mode", json={"mode": "AUTO", "reason": "test"}, headers=op)
        assert r.status_code == 200, r.text
        try:
            for tag in ("P-202.SP",):  # PHC-101's acid side (its base side is FC-201's output)
                r = c.post(WRITE.format(tag), json={"value": 10}, headers=op)
                assert r.status_code == 409, r.text
                problem = r.json()
                assert problem["type"] == "urn:plantctl:problem:loop-owned"
                assert "PHC-101" in problem["detail"] and "AUTO" in problem["detail"]
            after_refusals = service.audit_count()
        finally:
            assert c.put("/api/v1/loops/PHC-101/mode", json={"mode": "MAN"}, headers=op).status_code == 200
        # in MAN the loop lets go: the write passes every check and fails only at the (absent) PLC link
        r = c.post(WRITE.format("P-201.SP"), json={"value": 10}, headers=op)
        assert r.status_code == 502 and r.json()["type"] == "urn:plantctl:problem:link-down"
        assert "PLC-1-MODBUS" in r.json()["detail"]
    assert after_refusals == before + 1  # only the mode change to AUTO was audited
    assert not service.audit_rows("tag_write", "P-201.SP")


def test_openapi_documents_the_write_with_an_example(service: Service) -> None:
    with service.client() as c:
        spec = c.get("/openapi.json", headers=service.sessions["viewer"].bearer).json()
    op = spec["paths"]["/api/v1/tags/{name}/write"]["post"]
    assert {"200", "401", "403", "404", "409", "422", "502"} <= set(op["responses"])
    body = spec["components"]["schemas"]["TagWriteIn"]
    assert body["examples"][0]["value"] == 1


# --- accepted writes through real connectors to the simulated PLC -----------------------------------------


@dataclass
class PlcService:
    plc: SimulatedPlc
    base_url: str


@pytest.fixture(scope="module")
def plc_service(service: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlcService]:
    """The simulated PLC (watchdog off, no heartbeat) behind both real connectors, and the API over them."""
    tmp = tmp_path_factory.mktemp("tag-writes")
    ua_port, mb_port = free_port(), free_port()
    server = service.server
    plc = SimulatedPlc(EXAMPLE_PLANT, opcua_port=ua_port, modbus_port=mb_port, state_dir=tmp / "plc",
                       speed=1.0, watchdog_timeout_s=0)
    config = sources_on(server.config, plc.opcua_endpoint, mb_port, heartbeat=False)
    server.run(plc.__aenter__())
    built = build_service(config, database_url=server.database_url, state_dir=tmp / "state",
                          settings=ApiSettings(mode="production", database_url=server.database_url))
    runtime = built.runtime
    base = ""
    try:
        base = server.serve(built.app)
        with httpx.Client(base_url=base, timeout=10) as c:
            deadline = time.monotonic() + 20
            while c.get("/readyz").status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert c.get("/readyz").status_code == 200, c.get("/readyz").text
        while server.call(runtime.live.get, "P-201.RUN") is None and time.monotonic() < deadline:
            time.sleep(0.2)  # the RUN coil's first poll gives the audit its old value
        assert server.call(runtime.live.get, "P-201.RUN") is not None
        yield PlcService(plc, base)
    finally:
        if base:
            server.shutdown(base)
        server.run(plc.__aexit__(None, None, None))


def _commanded(service: Service, plc: SimulatedPlc) -> dict[str, float]:
    model: Any = plc.model
    return dict(service.server.call(model.commanded))


def test_start_stop_and_reset_reach_the_plc_and_are_audited(service: Service, plc_service: PlcService) -> None:
    op = service.sessions["operator"]
    assert _commanded(service, plc_service.plc)["P-201.RUN"] == 0.0
    with httpx.Client(base_url=plc_service.base_url, timeout=10) as c:
        r = c.post(WRITE.format("P-201.RUN"), json={"value": 1, "reason": "start NaOH dosing"}, headers=op.bearer)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["tag"] == "P-201.RUN" and body["value_read_back"] == 1.0 and body["unit"] == "bool"
        assert _commanded(service, plc_service.plc)["P-201.RUN"] == 1.0
        # the panel's way: cookie session with its CSRF token
        r = c.post(WRITE.format("P-201.RESET"), json={"value": 1}, headers=op.cookie_headers())
        assert r.status_code == 200, r.text
        assert _commanded(service, plc_service.plc)["P-201.RESET"] == 1.0
        assert c.post(WRITE.format("P-201.RESET"), json={"value": 0}, headers=op.bearer).status_code == 200
        assert _commanded(service, plc_service.plc)["P-201.RESET"] == 0.0
        r = c.post(WRITE.format("P-201.RUN"), json={"value": 0, "reason": "stop"}, headers=op.bearer)
        assert r.status_code == 200 and r.json()["value_read_back"] == 0.0
    assert _commanded(service, plc_service.plc)["P-201.RUN"] == 0.0
    stop, start = service.audit_rows("tag_write", "P-201.RUN")[:2]
    assert start["actor"] == "operator" and start["source_address"] == "127.0.0.1"
    assert start["old_value"] == {"value": 0.0, "unit": "bool"}
    assert start["new_value"] == {"value": 1.0, "unit": "bool"}
    assert start["detail"]["reason"] == "start NaOH dosing" and start["detail"]["via"] == "session"
    assert stop["new_value"] == {"value": 0.0, "unit": "bool"}
    reset_on = service.audit_rows("tag_write", "P-201.RESET")[1]
    assert reset_on["new_value"]["value"] == 1.0 and reset_on["detail"]["via"] == "cookie"


def test_device_refusal_is_409_with_the_devices_reason_and_not_audited(service: Service,
                                                                       plc_service: PlcService) -> None:
    """The PLC refuses RUN = 1 while its watchdog is tripped (Modbus exception 3, docs/sim-register-map.md)."""
    plc = plc_service.plc

    def trip(on: bool) -> None:
        plc.watchdog.tripped = on

    n = len(service.audit_rows("tag_write", "P-202.RUN"))
    service.server.call(trip, True)
    try:
        with httpx.Client(base_url=plc_service.base_url, timeout=10) as c:
            r = c.post(WRITE.format("P-202.RUN"), json={"value": 1}, headers=service.sessions["operator"].bearer)
    finally:
        service.server.call(trip, False)
    assert r.status_code == 409, r.text
    assert r.json()["type"] == "urn:plantctl:problem:device-refused"
    assert "device refused" in r.json()["detail"] and "ILLEGAL" in r.json()["detail"].upper()
    assert _commanded(service, plc)["P-202.RUN"] == 0.0
    assert len(service.audit_rows("tag_write", "P-202.RUN")) == n
