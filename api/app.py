"""The HTTP face of the service: an app factory over a running PlantRuntime."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from plantctl import __version__
from plantctl.runtime.service import PlantRuntime


def create_app(runtime: PlantRuntime) -> FastAPI:
    """The runtime's lifecycle belongs to the caller (plantctl run); the app only reads and routes."""
    app = FastAPI(title="plantctl", version=__version__)
    app.state.runtime = runtime

    @app.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: runtime started and every source connected")
    async def readyz() -> JSONResponse:
        health = {name: h.connected for name, h in runtime.source_health().items()}
        ready = runtime.ready()
        body: dict[str, Any] = {"ready": ready, "sources": health}
        return JSONResponse(body, status_code=200 if ready else 503)

    return app
