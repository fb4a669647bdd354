"""End to end: the simulated PLC over real Modbus TCP and OPC UA → connectors → runtime → live API."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from api.settings import ApiSettings
from plantctl.runtime.assemble import build_service
from tests.api.conftest import EXAMPLE_PLANT, Service
from tests.api.test_live import sse_events
from tests.support import free_port, sources_on

sim_runner = pytest.importorskip("sim.facade.runner")


@pytest.mark.slow
def test_live_api_serves_values_acquired_from_the_simulated_plc(service: Service, tmp_path: Path) -> None:
    ua_port, mb_port = free_port(), free_port()
    server = service.server
    plc = sim_runner.SimulatedPlc(EXAMPLE_PLANT, opcua_port=ua_port, modbus_port=mb_port, state_dir=tmp_path / "plc",
                                  speed=1.0)
    config = sources_on(server.config, plc.opcua_endpoint, mb_port)
    server.run(plc.__aenter__())
    built = build_service(config, database_url=server.database_url, state_dir=tmp_path / "state",
                          settings=ApiSettings(mode="production", database_url=server.database_url))
    base = ""
    try:
        base = server.serve(built.app)
        viewer = service.sessions["viewer"].bearer
        import httpx
        with httpx.Client(base_url=base, timeout=10) as c:
            deadline = time.monotonic() + 20
            while c.get("/readyz").status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert c.get("/readyz").status_code == 200, c.get("/readyz").text
            with c.stream("GET", "/api/v1/live/stream", params={"tag": "FIT-100,AIT-101"}, headers=viewer,
                          timeout=httpx.Timeout(10, read=10)) as r:
                got: dict[str, Any] = {}
                for kind, data in sse_events(r):
                    if kind == "sample" and data["quality"]["good"]:
                        got[data["tag"]] = data
                    if len(got) == 2:
                        break
            assert got["FIT-100"]["unit"] == "m3/h" and 0 <= got["FIT-100"]["value"] <= 15
            assert got["AIT-101"]["unit"] == "pH" and 0 <= got["AIT-101"]["value"] <= 14
            health = c.get("/api/v1/health", headers=viewer).json()
            assert {s["name"]: s["connected"] for s in health["sources"]} == {"PLC-1-OPCUA": True,
                                                                              "PLC-1-MODBUS": True}
    finally:
        if base:
            server.shutdown(base)
        server.run(plc.__aexit__(None, None, None))
