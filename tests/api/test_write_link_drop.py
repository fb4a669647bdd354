"""A write whose OPC UA link drops while the call is in flight is 502 link-down, never 409 "device refused".

Real parts: the simulated PLC over real OPC UA, the real connector, the service as production assembles it
(build_service) under uvicorn; the link runs through a loopback TCP proxy (tests/chaos/proxy.py) that swallows the
write request and then resets the connection.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from api.settings import ApiSettings
from connectors.opcua.config import OpcUaAcquisition, OpcUaAddress
from plantctl.config.models import PlantConfig
from plantctl.runtime.assemble import build_service
from sim.facade.runner import SimulatedPlc
from tests.api.conftest import EXAMPLE_PLANT, Service
from tests.chaos.proxy import FaultProxy
from tests.support import free_port, sources_on

TAG = "P-202.RUN"


def _run_over_opcua(plant: PlantConfig) -> PlantConfig:
    """The example plant with P-202's run command addressed over OPC UA (in the example it is a Modbus coil)."""
    ua = next(s.name for s in plant.sources if s.kind == "opcua")
    tags = [t.model_copy(update={"source": ua, "address": OpcUaAddress(node_id="ns=2;s=Plant.P202.RUN",
                                                                       acquisition=OpcUaAcquisition.POLL)})
            if t.name == TAG else t for t in plant.tags]
    return plant.model_copy(update={"tags": tags})


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_write_while_the_opcua_link_drops_mid_call_is_502_link_down(service: Service, tmp_path: Path) -> None:
    server = service.server
    plc = SimulatedPlc(EXAMPLE_PLANT, opcua_port=free_port(), modbus_port=free_port(), state_dir=tmp_path / "plc",
                       speed=1.0, watchdog_timeout_s=0)
    server.run(plc.__aenter__())
    ua_port = int(plc.opcua_endpoint.rsplit(":", 1)[1].split("/", 1)[0])
    proxy = FaultProxy(target_port=ua_port).start()
    endpoint = plc.opcua_endpoint.replace(f":{ua_port}/", f":{proxy.port}/")
    config = _run_over_opcua(sources_on(server.config, endpoint, free_port(), heartbeat=False))
    built = build_service(config, database_url=server.database_url, state_dir=tmp_path / "state",
                          settings=ApiSettings(mode="production", database_url=server.database_url))
    runtime = built.runtime
    op = service.sessions["operator"].bearer
    base = ""
    try:
        base = server.serve(built.app)  # its lifespan starts the runtime
        ua_name = config.tag(TAG).source
        deadline = time.monotonic() + 30
        while not server.call(lambda: runtime.source_health()[ua_name].connected) and time.monotonic() < deadline:
            time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=30) as c:
            ok = c.post(f"/api/v1/tags/{TAG}/write", json={"value": 0, "reason": "link up"}, headers=op)
            assert ok.status_code == 200, ok.text  # the path works while the link is up
            proxy.blackhole = True  # the next write request leaves the service and never arrives...
            drop = threading.Timer(0.5, proxy.partition)  # ...then the link is cut while the call waits
            drop.start()
            r = c.post(f"/api/v1/tags/{TAG}/write", json={"value": 1, "reason": "link drops"}, headers=op)
            drop.join()
        assert r.status_code == 502, r.text
        problem = r.json()
        assert r.headers["content-type"] == "application/problem+json"
        assert problem["type"] == "urn:plantctl:problem:link-down", problem
        assert problem["detail"]
    finally:
        proxy.stop()
        if base:
            server.shutdown(base)  # its lifespan stops the runtime
        server.run(plc.__aexit__(None, None, None))
