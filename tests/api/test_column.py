"""C-301 loading over the API: a regeneration recorded by an operator (audited, in the logbook) starts the count;
the loading and time to breakthrough then match the hand-worked history of tests/column_plant.py."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from api.auth.bootstrap import add_user, prepare_auth
from api.settings import ApiSettings
from plantctl.plantfile import load_plant
from tests.api.conftest import ROLES, PlantServer, Service, create_database, login
from tests.column_plant import CAPACITY_KG, RATE_KG_H, column_plant_file, expected_loaded_kg, seed_column_history

T0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=4)


@pytest.fixture(scope="module")
def column_service(db_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    name = f"col_{secrets.token_hex(5)}"
    url = create_database(db_server, name)
    passwords = {role: secrets.token_urlsafe(16) for role in ROLES}
    prepare_auth(ApiSettings(mode="production", database_url=url, admin_user="admin",
                             admin_password=passwords["admin"]))
    for role in ROLES[:-1]:
        add_user(url, role, role, passwords[role])
    state = tmp_path_factory.mktemp("column-state")
    server = PlantServer(load_plant(column_plant_file(state)), url, state)
    try:
        base = server.start()
        seed_column_history(url, T0)
        sessions = {role: login(base, role, passwords[role]) for role in ROLES}
        yield Service(server, base, passwords, sessions)
    finally:
        server.stop()
        with contextlib.suppress(Exception):
            db_server.drop_database(name)


def _post(svc: Service, role: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{svc.base_url}/api/v1/column/regenerated", json=body,
                      headers=svc.sessions[role].bearer, timeout=10)


def test_regeneration_is_refused_to_viewers_and_for_impossible_times(column_service: Service) -> None:
    now = datetime.now(UTC)
    assert _post(column_service, "viewer", {}).status_code == 403
    for body, reason in (({"at": (now + timedelta(hours=1)).isoformat()}, "later than now"),
                         ({"at": (now - timedelta(days=8)).isoformat()}, "more than 7 days ago"),
                         ({"at": "2026-03-02T06:00:00"}, "timezone"),
                         ({"when": now.isoformat()}, "when")):
        r = _post(column_service, "operator", body)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert reason in r.text, (reason, r.text)
    assert column_service.audit_rows("column_regenerated", "C-301") == []


def test_loading_counts_from_the_recorded_regeneration(column_service: Service) -> None:
    headers = column_service.sessions["viewer"].bearer
    with column_service.client() as c:
        before = c.get("/api/v1/column", headers=headers).json()
        assert before["loaded_kg"] is None and before["hours_to_breakthrough"] is None
        assert "no regeneration of C-301 recorded" in before["note"]
        ov = c.get("/api/v1/overview", headers=headers).json()
        assert ov["column_loading_pct"]["value"] is None and "no regeneration" in ov["column_loading_pct"]["note"]

    r = _post(column_service, "operator", {"at": T0.isoformat(), "comment": "acid wash, 3 BV rinse"})
    assert r.status_code == 201, r.text
    assert r.json()["note"]["text"] == f"C-301 regenerated, back on line {T0:%Y-%m-%d %H:%M} UTC: acid wash, 3 BV rinse"
    rows = column_service.audit_rows("column_regenerated", "C-301")
    assert len(rows) == 1 and rows[0]["actor"] == "operator"
    assert datetime.fromisoformat(rows[0]["new_value"]["at"]) == T0
    assert rows[0]["detail"]["comment"] == "acid wash, 3 BV rinse"
    assert column_service.audit_rows("logbook_note", "logbook")[0]["actor"] == "operator"

    with column_service.client() as c:
        col = c.get("/api/v1/column", headers=headers).json()
        ov = c.get("/api/v1/overview", headers=headers).json()
    at = datetime.fromisoformat(col["at"])
    loaded = expected_loaded_kg(T0, at)
    assert datetime.fromisoformat(col["regenerated_at"]) == T0 and col["regenerated_by"] == "operator"
    assert col["unknown_h"] == pytest.approx(0.5)
    assert col["estimated_kg"] == pytest.approx(0.5 * RATE_KG_H)
    assert col["loaded_kg"] == pytest.approx(loaded)
    assert col["loading_pct"] == pytest.approx(100 * loaded / CAPACITY_KG)
    assert col["uptake_kg_h"] == pytest.approx(RATE_KG_H)
    assert col["hours_to_breakthrough"] == pytest.approx((CAPACITY_KG - loaded) / RATE_KG_H)
    assert col["outlet_ratio"] == pytest.approx(20 / 500) and col["broken_through"] is False and col["note"] == ""
    ov_col = ov["column"]
    ov_loaded = expected_loaded_kg(T0, datetime.fromisoformat(ov_col["at"]))
    assert ov["column_loading_pct"]["value"] == pytest.approx(100 * ov_loaded / CAPACITY_KG)
    assert ov["time_to_breakthrough_h"]["value"] == pytest.approx((CAPACITY_KG - ov_loaded) / RATE_KG_H)
