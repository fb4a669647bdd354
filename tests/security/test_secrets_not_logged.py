"""No secret reaches a log line or the console, even at DEBUG.

The service runs with known secrets — the database password inside its URL, the admin password,
an OPC UA user's password from the environment — and is driven through logins (right and wrong),
API reads, a live stream authenticated by ?access_token= and an OPC UA session with a user. Then
every captured log record (all loggers at DEBUG, uvicorn's access log included) and everything
written to stdout/stderr is searched for each secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from api.auth.bootstrap import prepare_auth
from api.settings import ApiSettings
from connectors.opcua.config import OpcUaSourceConfig
from connectors.opcua.source import OpcUaSource
from plantctl.plantfile import load_plant, tag_config
from plantctl.quality import Quality
from plantctl.samples import Sample
from tests.api.conftest import EXAMPLE_PLANT, PlantServer, create_database, login
from tests.connectors.modbus_server import wait_until
from tests.connectors.opcua_server import opcua_server


class Records(logging.Handler):
    """Keeps every record it is handed."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def opcua_session_with_a_password(password: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A user/password session (right password), then a refused one (wrong password)."""
    async with opcua_server(user=("operator", password)) as plc:
        for attempt in (password, "Wr0ng-" + password):
            monkeypatch.setenv("SEC_PLC_USER", "operator")
            monkeypatch.setenv("SEC_PLC_PASSWORD", attempt)
            cfg = OpcUaSourceConfig.model_validate({
                "kind": "opcua", "name": "PLC-UA", "endpoint": plc.endpoint, "connect_timeout_s": 3.0,
                "reconnect_max_delay_s": 0.5, "username_env": "SEC_PLC_USER", "password_env": "SEC_PLC_PASSWORD"})
            tag = tag_config({"name": "AIT-101", "unit": "pH", "range": {"low": 0, "high": 14},
                                            "source": "PLC-UA", "opcua": {"node_id": "ns=2;s=Plant.T101.AIT-101"}})
            got: list[Sample] = []
            source = OpcUaSource(cfg, [tag], got.extend)
            await source.start()
            try:
                if attempt == password:
                    await wait_until(lambda g=got: any(s.quality is Quality.GOOD for s in g), 5, "a Good value")
                else:
                    await wait_until(lambda s=source: s.health().last_error is not None, 4, "a refused login")
            finally:
                await source.stop()


def test_no_secret_in_any_log_or_console_output(db_server: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                capfd: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.DEBUG)
    uvicorn_records = Records()
    name = f"sec_{secrets.token_hex(5)}"
    url = create_database(db_server, name)
    db_password = urlsplit(url).password
    assert db_password and len(db_password) >= 12, "the test database URL carries no password to look for"
    admin_password = "Adm1n-" + secrets.token_urlsafe(18)
    wrong_password = "Wr0ng-" + secrets.token_urlsafe(18)
    opc_password = "0pcUa-" + secrets.token_urlsafe(18)
    tokens: list[str] = []
    prepare_auth(ApiSettings(mode="production", database_url=url, admin_user="admin", admin_password=admin_password))
    server = PlantServer(load_plant(EXAMPLE_PLANT), url, tmp_path / "state")
    server.start()
    try:
        base = server.serve(server.app())
        # uvicorn's loggers do not propagate to the root (its own dictConfig), so they get a handler of ours;
        # its access log is switched on (the test server starts it at WARNING)
        for name in ("uvicorn", "uvicorn.access"):
            caplog.set_level(logging.DEBUG, logger=name)  # setLevel: clears the loggers' level cache
            logging.getLogger(name).addHandler(uvicorn_records)
        refused = httpx.post(f"{base}/api/v1/auth/login", json={"username": "admin", "password": wrong_password},
                             timeout=10)
        assert refused.status_code == 401
        session = login(base, "admin", admin_password)
        tokens += [session.token, session.csrf]
        assert httpx.get(f"{base}/api/v1/tags", headers=session.bearer, timeout=10).status_code == 200
        with httpx.stream("GET", f"{base}/api/v1/live/stream", params={"access_token": session.token},
                          timeout=10) as r:
            assert r.status_code == 200
            next(r.iter_lines())
        issued = httpx.post(f"{base}/api/v1/tokens", headers=session.bearer,
                            json={"name": "historian-export", "role": "viewer"}, timeout=10)
        assert issued.status_code == 201, issued.text
        tokens.append(issued.json()["token"])
        assert httpx.get(f"{base}/api/v1/tags", headers={"Authorization": f"Bearer {tokens[-1]}"},
                         timeout=10).status_code == 200
    finally:
        server.stop()
        for name in ("uvicorn", "uvicorn.access"):
            logging.getLogger(name).removeHandler(uvicorn_records)
        with contextlib.suppress(Exception):
            db_server.drop_database(name)
    asyncio.run(opcua_session_with_a_password(opc_password, monkeypatch))

    out, err = capfd.readouterr()
    # httpx/httpcore are this test's HTTP client (they log the Set-Cookie it receives), not the service
    records = [r for r in [*caplog.records, *uvicorn_records.records] if not r.name.startswith(("httpx", "httpcore"))]
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in records)
    assert "access_token=***" in logged, "the access log line of the live stream was not captured"
    assert "rejected the user name or password" in logged, "the refused OPC UA login was not logged"
    for label, secret in [("database password", db_password), ("admin password", admin_password),
                          ("wrong password tried", wrong_password), ("OPC UA password", opc_password),
                          *(("token", t) for t in tokens if t)]:
        for where, text in (("log", logged), ("stdout", out), ("stderr", err)):
            leaking = [r.name for r in records if secret in r.getMessage()]
            assert secret not in text, f"the {label} appears in {where} (loggers {leaking})"
