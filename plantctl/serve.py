"""`plantctl run`: one process serving the API together with the runtime (and, on request, the simulator)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from api.app import create_app
from api.auth.bootstrap import AuthSetupError, prepare_auth
from api.settings import ApiSettings
from plantctl.config import load_plant
from plantctl.db import database_url
from plantctl.paths import state_dir
from plantctl.runtime.assemble import build_service

log = logging.getLogger("plantctl")


@dataclass(frozen=True, slots=True)
class ServeOptions:
    config_path: Path
    host: str = "127.0.0.1"
    port: int = 8080
    simulate: bool = False
    speed: float = 1.0
    scenario: Path | None = None


@contextlib.asynccontextmanager
async def _simulator(opts: ServeOptions) -> AsyncIterator[Any]:
    if not opts.simulate:
        yield None
        return
    from sim.facade.runner import SimulatedPlc

    async with SimulatedPlc(opts.config_path, speed=opts.speed, scenario=opts.scenario) as plc:
        print(f"plantctl: simulated PLC serving OPC UA on {plc.opcua_endpoint} and Modbus TCP on "
              f"127.0.0.1:{plc.modbus_port} (×{opts.speed:g} real time)", flush=True)
        yield plc


def _settings(url: str, simulate: bool) -> ApiSettings:
    """Against the simulator the service is a demo unless told otherwise; a real plant is production."""
    mode = os.environ.get("PLANTCTL_MODE") or ("demo" if simulate else "production")
    if mode not in ("demo", "production"):
        raise AuthSetupError(f"PLANTCTL_MODE must be demo or production, not {mode!r}")
    return ApiSettings(database_url=url, mode="demo" if mode == "demo" else "production", bind_host="127.0.0.1")


async def serve(opts: ServeOptions) -> None:
    config = load_plant(opts.config_path)
    url = database_url()
    settings = _settings(url, opts.simulate)
    banner = await asyncio.to_thread(prepare_auth, settings)  # migrations, then users; refuses a default admin
    async with _simulator(opts) as plc:
        runtime = build_service(config, url, state_dir())
        runtime.simulator = plc
        await runtime.start()
        try:
            app = create_app(runtime, settings=settings, simulator=plc)
            server = uvicorn.Server(uvicorn.Config(app, host=opts.host, port=opts.port, log_level="info",
                                                   lifespan="on", workers=1))
            if banner:
                print(banner, flush=True)
            print(f"plantctl: service for {config.plant.name!r} on http://{opts.host}:{opts.port}/ "
                  f"(health: /healthz)", flush=True)
            await server.serve()
        finally:
            await runtime.stop()
