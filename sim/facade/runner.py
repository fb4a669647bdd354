"""The simulated PLC as one object: the process model paced to wall-clock time ×speed behind real OPC UA
and Modbus TCP servers, with the heartbeat watchdog and scenario comms drops.

Use it in-process (connector, control and API tests)::

    from sim.facade import SimulatedPlc

    async with SimulatedPlc("examples/plant.yaml", speed=60, opcua_port=0, modbus_port=0) as plc:
        plc.opcua_endpoint            # "opc.tcp://127.0.0.1:<port>/plantctl/sim"
        plc.modbus_host, plc.modbus_port, plc.modbus_unit_id
        plc.model                     # the PlantModel (inject faults: plc.model.sensors["AIT-101"].fail())
        await plc.stop_server("modbus")   # a real outage: listener and connections closed
        await plc.start_server("modbus")  # back on the same port
        await plc.pause()             # freeze simulated time; the servers keep answering
        await plc.advance(5.0)        # step 5 simulated seconds now and publish (while paused)
        plc.resume()

Ports: None takes the plant file's (48400 / 50200), 0 picks a free loopback port. The watchdog runs
on wall-clock seconds (a supervisor beats at wall-clock rate whatever the speed) and arms on the first
heartbeat change. Simulated time maps onto UTC from the moment the object is created.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Literal, Protocol, TypeVar

from connectors.modbus.config import ByteOrder, ModbusSourceConfig
from connectors.opcua.config import OpcUaSourceConfig
from connectors.registry import schemas
from plantctl.clock import LOOP_CLOCK, Clock
from plantctl.config.load import load_plant
from plantctl.config.models import PlantConfig
from sim.facade.core import PlcCore
from sim.facade.modbus_server import ModbusPlc, WordOrder
from sim.facade.opcua_server import OpcUaPlc, OpcUaSettings
from sim.facade.pki import users_from_env
from sim.facade.watchdog import HeartbeatWatchdog
from sim.interface import ProcessModel

log = logging.getLogger(__name__)

ServerName = Literal["opcua", "modbus"]
SERVERS: tuple[ServerName, ...] = ("opcua", "modbus")
MAX_SPEED = 1000.0
_S = TypeVar("_S", OpcUaSourceConfig, ModbusSourceConfig)


class CommsDropLike(Protocol):
    """A scenario's comms drop (sim.scenario.CommsDrop): simulated seconds from the start of the run."""

    @property
    def start_s(self) -> float: ...
    @property
    def duration_s(self) -> float: ...
    @property
    def server(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Pacing:
    """Wall-clock pacing. tick_s: wall seconds between publishes; max_step_s: simulated seconds per
    model.step; behind_warn_s: wall seconds of lag before a warning (and a rebase of the clock)."""

    speed: float = 1.0
    tick_s: float = 0.1
    max_step_s: float = 1.0
    behind_warn_s: float = 1.0

    def __post_init__(self) -> None:
        if not 1.0 <= self.speed <= MAX_SPEED:
            raise ValueError(f"speed must be 1…{MAX_SPEED:g} (× real time), got {self.speed:g}")
        if not (self.tick_s > 0 and self.max_step_s > 0):
            raise ValueError("tick_s and max_step_s must be positive")


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS has just handed out (asyncua must know its port before it advertises endpoints)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


class SimulatedPlc:
    """The whole façade: model, pacing task, both servers; `async with` starts and stops it all."""

    def __init__(
        self,
        config: str | Path | PlantConfig,
        *,
        speed: float = 1.0,
        opcua_port: int | None = None,
        modbus_port: int | None = None,
        word_order: WordOrder | str | None = None,
        require_security: bool = False,
        users: dict[str, str] | None = None,
        state_dir: str | Path | None = None,
        shelf_file: str | Path | None = None,
        trusted_clients_dir: str | Path | None = None,
        watchdog_timeout_s: float = 5.0,
        seed: int | None = None,
        scenario: str | Path | None = None,
        model: ProcessModel | None = None,
        comms_drops: Sequence[CommsDropLike] = (),
        tick_s: float = 0.1,
        max_step_s: float = 1.0,
        clock: Clock = LOOP_CLOCK,
    ) -> None:
        self.clock = clock  # pacing's wall clock and sleep (a VirtualClock runs a test's pacing in virtual time)
        self.config_path = None if isinstance(config, PlantConfig) else Path(config)
        plant = config if isinstance(config, PlantConfig) else load_plant(config, schemas())
        self.pacing = Pacing(speed=speed, tick_s=tick_s, max_step_s=max_step_s)
        drops = list(comms_drops)
        player = None
        if scenario is not None:
            from sim.scenario import load_scenario

            loaded = load_scenario(scenario)
            seed = loaded.seed if seed is None else seed
            drops.extend(loaded.comms_drops())
            player = loaded.player()
        if model is None:
            if self.config_path is None:
                raise ValueError("give a plant file path (or a model) to build the process model from")
            from sim.model import PlantModel

            plant_model = PlantModel.from_plant_file(self.config_path, seed)
            if player is not None:
                plant_model.attach_scenario(player)
            model = plant_model
        self.model = model
        self.comms_drops = tuple(drops)
        self.core = PlcCore(model, watchdog=HeartbeatWatchdog(timeout_s=watchdog_timeout_s))

        ua_src = _source(plant, OpcUaSourceConfig)
        mb_src = _source(plant, ModbusSourceConfig)
        host, ua_default, path = _split_endpoint(ua_src.endpoint if ua_src else None)
        state = Path(state_dir) if state_dir is not None else _default_state_dir()
        self.opcua = OpcUaPlc(self.core, OpcUaSettings(
            host=host, port=_pick(opcua_port, ua_default, host), path=path, require_security=require_security,
            users={**_plant_file_user(ua_src), **users_from_env(), **(users or {})}, pki_dir=state / "pki",
            shelf_file=Path(shelf_file) if shelf_file is not None else default_shelf_file(state),
            trusted_clients_dir=Path(trusted_clients_dir) if trusted_clients_dir is not None else None))
        order = word_order if word_order is not None else (mb_src.byte_order if mb_src else ByteOrder.ABCD)
        self.modbus = ModbusPlc(
            self.core, host=mb_src.host if mb_src else "127.0.0.1",
            port=modbus_port if modbus_port is not None else (mb_src.port if mb_src else 50200),
            unit_id=mb_src.unit_id if mb_src else 1, word_order=_word_order(order))
        self.behind_ticks = 0  # ticks that ended with the model behind wall-clock × speed
        self.rebases = 0  # times the simulated clock gave up catching up and slipped
        self.lag_s = 0.0  # wall seconds the model is behind, at the last tick
        self._paused = False
        self._task: asyncio.Task[None] | None = None
        self._down_manual: set[str] = set()
        self._down_drop: set[str] = set()
        self._last_warn = -math.inf
        self.failure: BaseException | None = None  # why the pacing task ended, if it did

    # --- what clients need ---------------------------------------------------------------------

    @property
    def opcua_endpoint(self) -> str:
        return self.opcua.endpoint

    @property
    def modbus_host(self) -> str:
        return self.modbus.host

    @property
    def modbus_port(self) -> int:
        return self.modbus.port

    @property
    def modbus_unit_id(self) -> int:
        return self.modbus.unit_id

    @property
    def watchdog(self) -> HeartbeatWatchdog:
        return self.core.watchdog

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start both servers and the pacing task; returns once both listen."""
        if self._task is not None:
            return
        await self.opcua.start()
        try:
            await self.modbus.start()
        except BaseException:
            await self.opcua.close()
            raise
        self._task = asyncio.create_task(self._run(), name="sim-pacing")

    async def stop(self) -> None:
        """Cancel and await the pacing task, then close both servers."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # a failure was logged and kept
                await task
        await self.modbus.stop()
        await self.opcua.close()

    async def __aenter__(self) -> SimulatedPlc:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    async def stop_server(self, name: ServerName) -> None:
        """Take one server off the network until start_server (connections refused/closed)."""
        self._down_manual.add(name)
        await self._apply_listeners()

    async def start_server(self, name: ServerName) -> None:
        self._down_manual.discard(name)
        await self._apply_listeners()

    async def pause(self) -> None:
        """Freeze simulated time and publish the frozen state, so wire and model agree exactly."""
        self._paused = True
        await self.publish()

    def resume(self) -> None:
        self._paused = False

    async def advance(self, dt_s: float) -> None:
        """Step the model by dt_s simulated seconds now (in max_step_s pieces) and publish."""
        remaining = dt_s
        while remaining > 1e-9:
            step = min(self.pacing.max_step_s, remaining)
            self.model.step(step)
            remaining -= step
        await self.publish()

    async def publish(self) -> None:
        """Check the watchdog, snapshot the model and push it to the OPC UA address space."""
        self.core.check_watchdog()
        self.core.refresh()
        await self.opcua.publish()

    # --- pacing --------------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._pace()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.failure = exc
            log.exception("simulation stopped: the model or a server failed; the servers keep the last values")
            raise

    async def _pace(self) -> None:
        p = self.pacing
        clock = self.clock
        wall0, sim0 = clock.monotonic(), self.model.t_s
        utc0, mono0, next_tick = datetime.now(UTC), wall0, wall0
        while True:
            now = clock.monotonic()
            if self._paused:
                wall0, sim0 = now, self.model.t_s  # time does not pile up while paused
            else:
                wall0, sim0 = self._catch_up(now, wall0, sim0)
                # stamps are simulated time: at speed 1 they must read as the wall clock, not trail it by
                # the seconds the servers took to start (issue 17 problem 10) or a slip lost
                self.core.keep_up_with(utc0 + timedelta(seconds=now - mono0))
            await self.publish()
            await self._apply_drops()
            next_tick += p.tick_s
            delay = next_tick - clock.monotonic()
            if delay < 0:
                next_tick = clock.monotonic()
                delay = 0
            await clock.sleep(delay)

    def _catch_up(self, now: float, wall0: float, sim0: float) -> tuple[float, float]:
        """Step the model toward wall-clock × speed within one tick's budget; say so when it falls behind."""
        p = self.pacing
        target = sim0 + (now - wall0) * p.speed
        deadline = self.clock.monotonic() + 0.8 * p.tick_s
        while self.model.t_s < target - 1e-9 and self.clock.monotonic() < deadline:
            self.model.step(min(p.max_step_s, target - self.model.t_s))
        self.lag_s = max(0.0, (target - self.model.t_s) / p.speed)
        if self.lag_s > p.tick_s:
            self.behind_ticks += 1
            if now - self._last_warn > 10.0:
                self._last_warn = now
                log.warning("simulation falls behind real time ×%g: %.2f s (wall) behind", p.speed, self.lag_s)
            if self.lag_s > p.behind_warn_s:
                self.rebases += 1
                return now, self.model.t_s  # slip the clock rather than race forever
        return wall0, sim0

    async def _apply_drops(self) -> None:
        t = self.model.t_s
        down = {str(d.server) for d in self.comms_drops if d.start_s <= t < d.start_s + d.duration_s}
        if down != self._down_drop:
            for name in sorted(down - self._down_drop):
                log.warning("scenario comms drop: %s server off the network at t=%.0f s", name, t)
            self._down_drop = down
            await self._apply_listeners()

    async def _apply_listeners(self) -> None:
        for name in SERVERS:
            server: OpcUaPlc | ModbusPlc = self.opcua if name == "opcua" else self.modbus
            wanted = name not in self._down_manual and name not in self._down_drop
            if wanted and not server.listening:
                await server.start()
            elif not wanted and server.listening:
                await server.stop()


def _source(plant: PlantConfig, kind: type[_S]) -> _S | None:
    return next((s for s in plant.sources if isinstance(s, kind)), None)


def _plant_file_user(source: OpcUaSourceConfig | None) -> dict[str, str]:
    """The user the plant file's OPC UA source logs in as (username_env/password_env), when both are set."""
    if source is None or source.username_env is None or source.password_env is None:
        return {}
    name, password = os.environ.get(source.username_env), os.environ.get(source.password_env)
    return {name: password} if name and password else {}


def _split_endpoint(endpoint: str | None) -> tuple[str, int, str]:
    from urllib.parse import urlsplit

    if endpoint is None:
        return "127.0.0.1", 48400, "/plantctl/sim"
    parts = urlsplit(endpoint)
    return parts.hostname or "127.0.0.1", parts.port or 4840, parts.path or "/"


def _pick(port: int | None, default: int, host: str) -> int:
    if port is None:
        return default
    return free_port(host) if port == 0 else port


def _word_order(order: ByteOrder | WordOrder | str) -> WordOrder:
    try:
        return WordOrder(str(order.value if isinstance(order, ByteOrder | WordOrder) else order))
    except ValueError:
        raise ValueError(f"word order {order} is not served by the simulated PLC: use ABCD or CDAB") from None


def default_shelf_file(state_dir: Path) -> Path:
    """The cached standard address space, per asyncua version (a shelf from another version may not load)."""
    from importlib.metadata import version

    return state_dir / f"opcua-address-space-asyncua-{version('asyncua')}"


def _default_state_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "plantctl" / "sim"
