"""`plantctl run`: one process serving the API together with the runtime (and, on request, the simulator)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from pydantic import ValidationError

from api.app import create_app
from api.auth.bootstrap import AuthSetupError, prepare_auth
from api.settings import ApiSettings
from connectors.registry import listen_endpoints
from plantctl.config import PlantConfig
from plantctl.db import database_url
from plantctl.paths import state_dir
from plantctl.plantfile import load_plant
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


class _Server(uvicorn.Server):
    """uvicorn re-raises a captured SIGTERM/SIGINT as soon as it has shut down (Server.capture_signals), and
    the default SIGTERM action ends the process there, before the runtime stops (historian flush, sources
    closed): hold the signals back and raise them once the runtime has stopped."""

    held_signals: tuple[int, ...] = ()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            try:
                yield
            finally:
                self.held_signals = tuple(self._captured_signals)
                self._captured_signals.clear()


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
    config = load_plant(opts.config_path)
    _check_ports(opts, config)
    url = database_url()
    settings = _settings(url, opts.simulate)
    banner = await asyncio.to_thread(prepare_auth, settings)  # migrations, then users; refuses a default admin
    server: _Server | None = None
    async with _simulator(opts) as plc:
        runtime = build_service(config, url, state_dir())
        runtime.simulator = plc
        await runtime.start()
        try:
            app = create_app(runtime, settings=settings, simulator=plc)
            server = _Server(uvicorn.Config(app, host=opts.host, port=opts.port, log_level="info",
                                            lifespan="on", workers=1))
            if banner:
                print(banner, flush=True)
            print(f"plantctl: service for {config.plant.name!r} on http://{opts.host}:{opts.port}/ "
                  f"(health: /healthz)", flush=True)
            await server.serve()
        finally:
            await runtime.stop()
            log.info("runtime stopped")
    for sig in reversed(server.held_signals if server is not None else ()):
        signal.raise_signal(sig)  # the exit status a supervisor expects for the signal it sent
