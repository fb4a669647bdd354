"""`plantctl run`: one process serving the API together with the runtime (and, on request, the simulator)."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import uvicorn
from pydantic import ValidationError

from api.auth.bootstrap import AuthSetupError, prepare_auth
from api.server_limits import uvicorn_config
from api.settings import ApiSettings
from connectors.registry import listen_endpoints
from plantctl.config import PlantConfig
from plantctl.db import database_url
from plantctl.paths import state_dir
from plantctl.plantfile import load_plant
from plantctl.runtime.assemble import Simulation, build_service

log = logging.getLogger("plantctl")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ServeOptions:
    config_path: Path
    host: str = "127.0.0.1"
    port: int = 8080
    simulate: bool = False
    speed: float = 1.0
    scenario: Path | None = None


class PortBusyError(RuntimeError):
    """A port the service needs is taken; the message says which and what to do."""


def _check_ports(opts: ServeOptions, config: PlantConfig) -> None:
    """Say which port is taken before anything starts, instead of failing half-way through start-up."""
    wanted = [(opts.host, opts.port, "the API (--port)")]
    if opts.simulate:  # the simulated PLC serves where each source's protocol says its device listens
        wanted += [(e.host, e.port, f"the simulated PLC's {e.what}") for e in listen_endpoints(config)]
    for host, port, what in wanted:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                raise PortBusyError(
                    f"port {port} on {host} for {what} is in use ({exc.strerror}): is another plantctl "
                    "running? Stop it, or move the port in the plant file / with --port") from None


def _settings(url: str, simulate: bool) -> ApiSettings:
    """Against the simulator the service is a demo unless told otherwise; a real plant is production."""
    mode = os.environ.get("PLANTCTL_MODE") or ("demo" if simulate else "production")
    if mode not in ("demo", "production"):
        raise AuthSetupError(f"PLANTCTL_MODE must be demo or production, not {mode!r}")
    try:
        return ApiSettings(database_url=url, mode="demo" if mode == "demo" else "production", bind_host="127.0.0.1")
    except ValidationError as exc:  # e.g. a weak PLANTCTL_ADMIN_PASSWORD; the input is hidden from the message
        reasons = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise AuthSetupError(f"settings refused: {reasons}") from None


async def serve(opts: ServeOptions) -> None:
    """Checks first, then uvicorn: the app's lifespan starts the simulator and the runtime and stops them on
    SIGTERM/SIGINT (historian flushed) before uvicorn re-raises the signal, so the exit status a supervisor
    expects for the signal it sent holds."""
    config = load_plant(opts.config_path)
    _check_ports(opts, config)
    url = database_url()
    settings = _settings(url, opts.simulate)
    banner = await asyncio.to_thread(prepare_auth, settings)  # migrations, then users; refuses a default admin
    simulation = Simulation(opts.config_path, speed=opts.speed, scenario=opts.scenario) if opts.simulate else None
    service = build_service(config, database_url=url, state_dir=state_dir(), settings=settings,
                            simulation=simulation)
    plc = service.simulator
    if plc is not None:
        print(f"plantctl: simulated PLC serving OPC UA on {plc.opcua_endpoint} and Modbus TCP on "
              f"127.0.0.1:{plc.modbus_port} (×{opts.speed:g} real time)", flush=True)
    server = uvicorn.Server(uvicorn_config(service.app, settings, host=opts.host, port=opts.port,
                                           log_level="info", lifespan="on", workers=1))
    if banner:
        print(banner, flush=True)
    print(f"plantctl: service for {config.plant.name!r} on http://{opts.host}:{opts.port}/ "
          f"(health: /healthz)", flush=True)
    freeze_assembly()
    await server.serve()


def run_event_loop(main: Coroutine[Any, Any, T]) -> T:
    """uvloop's event loop when it is installed (it comes with uvicorn[standard]; uvicorn's own loop="auto" would
    choose it), else asyncio's: an API request costs about half the CPU on it (issue 20, docs/scaling.md)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - an install without uvicorn[standard]
        return asyncio.run(main)
    return uvloop.run(main)


def freeze_assembly() -> None:
    """Move what assembly built (config, tag tables, app) out of the collector's sight: it lives as long as the
    process, and every full collection re-scanned it — at 10,000 tags 0.5 s a pass, 12 % of wall time."""
    gc.collect()
    gc.freeze()
