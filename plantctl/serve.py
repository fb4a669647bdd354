"""`plantctl run`: one process serving the API together with the runtime (and, on request, the simulator)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn

from plantctl.config import load_plant
from plantctl.db import database_url
from plantctl.historian.migrate import apply_migrations
from plantctl.historian.writer import HistorianWriter
from plantctl.paths import state_dir
from plantctl.runtime.service import PlantRuntime

if TYPE_CHECKING:
    from sim.facade.runner import SimulatedPlc

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
async def _simulator(opts: ServeOptions) -> AsyncIterator[SimulatedPlc | None]:
    if not opts.simulate:
        yield None
        return
    from sim.facade.runner import SimulatedPlc

    async with SimulatedPlc(opts.config_path, speed=opts.speed, scenario=opts.scenario) as plc:
        print(f"plantctl: simulated PLC serving OPC UA on {plc.opcua_endpoint} and Modbus TCP on "
              f"127.0.0.1:{plc.modbus_port} (×{opts.speed:g} real time)", flush=True)
        yield plc  # the API mounts its simulator bench (/api/v1/simulator, the panel's Simulator page)


async def serve(opts: ServeOptions) -> None:
    config = load_plant(opts.config_path)
    url = database_url()
    await asyncio.to_thread(apply_migrations, url)
    state = state_dir()
    historian = HistorianWriter(url, config.historian, state_dir=state, tags=config.tags)
    async with _simulator(opts) as plc:
        runtime = PlantRuntime(config, state_dir=state, historian=historian)
        await runtime.start()
        try:
            from api.app import create_app

            app = create_app(runtime, simulator=plc)
            server = uvicorn.Server(uvicorn.Config(app, host=opts.host, port=opts.port, log_level="info",
                                                   lifespan="on", workers=1))
            print(f"plantctl: service for {config.plant.name!r} on http://{opts.host}:{opts.port}/ "
                  f"(health: /healthz)", flush=True)
            await server.serve()
        finally:
            await runtime.stop()
