"""Where the panel and the simulator bench are served from, without a database (no lifespan runs)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from plantctl.plantfile import load_plant
from plantctl.runtime.service import PlantRuntime
from sim.facade.runner import SimulatedPlc
from tests.panel.conftest import EXAMPLE_PLANT, REPO


def _app(tmp_path: Path, simulator: SimulatedPlc | None = None) -> TestClient:
    runtime = PlantRuntime(load_plant(EXAMPLE_PLANT), state_dir=tmp_path, sources={})
    return TestClient(create_app(runtime, simulator=simulator), base_url="http://127.0.0.1")


def test_panel_is_served_below_every_api_route(tmp_path: Path) -> None:
    client = _app(tmp_path)
    index = client.get("/")
    assert index.status_code == 200 and "text/html" in index.headers["content-type"]
    assert '<script type="module" src="/js/app.js">' in index.text
    module = client.get("/js/app.js")
    assert module.status_code == 200 and module.headers["content-type"].startswith("text/javascript")
    assert client.get("/healthz").json() == {"status": "ok"}  # an API route still answers as the API
    assert client.get("/js/no-such-page.js").status_code == 404


def test_chart_library_is_served_from_node_modules(tmp_path: Path) -> None:
    assert (REPO / "node_modules" / "uplot" / "dist").is_dir(), "run `npm ci` at the repo root (./dev does)"
    r = _app(tmp_path).get("/vendor/uplot/uPlot.esm.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert "export { uPlot as default }" in r.text


def test_simulator_bench_exists_only_against_the_simulator(tmp_path: Path) -> None:
    assert _app(tmp_path).get("/api/v1/simulator").status_code == 404
    assert "/api/v1/simulator" not in _app(tmp_path).app.openapi()["paths"]  # type: ignore[attr-defined]
    plc = SimulatedPlc(EXAMPLE_PLANT, opcua_port=0, modbus_port=0, state_dir=tmp_path / "sim")  # not started
    with_sim = _app(tmp_path, plc)
    assert with_sim.get("/api/v1/simulator").status_code == 503  # mounted; the service is not started here
    assert "/api/v1/simulator/sensors/{tag}" in with_sim.app.openapi()["paths"]  # type: ignore[attr-defined]
