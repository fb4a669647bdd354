"""`plantctl sim`: run the simulated PLC-1 (OPC UA + Modbus TCP over the process model) until Ctrl-C.

Mount it in the main CLI with `app.command("sim")(sim_command)`; `python -m sim.cli --help` runs it alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import Annotated

import typer

from plantctl.config import ConfigError
from sim.facade.modbus_server import WordOrder
from sim.facade.pki import UsersError
from sim.facade.runner import MAX_SPEED, SimulatedPlc
from sim.farm import FarmProtocol
from sim.farm_cli import FarmOptions, run_farm

log = logging.getLogger("plantctl.sim")


def sim_command(
    config: Annotated[Path, typer.Option("--config", "-c", help="plant file (YAML) the PLC serves")] = Path(
        "examples/plant.yaml"),
    scenario: Annotated[Path | None, typer.Option(help="scenario file (process events and comms drops)")] = None,
    speed: Annotated[float, typer.Option(min=1.0, max=MAX_SPEED, help="simulated seconds per wall second")] = 1.0,
    opcua_port: Annotated[int | None, typer.Option(help="OPC UA port (default: the plant file's; 0 = any free)")]
    = None,
    modbus_port: Annotated[int | None, typer.Option(help="Modbus TCP port (default: the plant file's; 0 = any free)")]
    = None,
    word_order: Annotated[WordOrder | None, typer.Option(case_sensitive=False,
                                                         help="float32 word order (default: the plant file's)")] = None,
    require_security: Annotated[bool, typer.Option(
        help="offer only Basic256Sha256 Sign/SignAndEncrypt with user/password (users from PLANTCTL_SIM_USERS)")]
    = False,
    trusted_clients: Annotated[Path | None, typer.Option(
        help="directory of client application certificates to accept (default: any)")] = None,
    watchdog_timeout_s: Annotated[float, typer.Option(
        min=0.0, help="heartbeat watchdog timeout, wall-clock seconds (0 = off)")] = 5.0,
    seed: Annotated[int | None, typer.Option(help="random seed (default: scenario's, then plant file's)")] = None,
    state_dir: Annotated[Path | None, typer.Option(
        help="server certificate and address-space cache (default ~/.cache/plantctl/sim)")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log every server event")] = False,
    farm: Annotated[int | None, typer.Option(
        min=1, max=500, help="instead of PLC-1: N synthetic PLCs for scale tests (docs/scaling.md)")] = None,
    tags: Annotated[int, typer.Option(min=1, max=60_000, help="with --farm: tags per PLC")] = 500,
    protocol: Annotated[FarmProtocol, typer.Option(
        case_sensitive=False, help="with --farm: modbus, opcua, or mixed (alternating)")] = FarmProtocol.MIXED,
    plant_out: Annotated[Path, typer.Option(help="with --farm: where to write the plant file that reads the farm")]
    = Path("farm-plant.yaml"),
    base_port: Annotated[int, typer.Option(
        min=0, max=65000, help="with --farm: PLC i listens on base-port + i (0 = free ports)")] = 0,
    processes: Annotated[int, typer.Option(min=1, max=64, help="with --farm: worker processes")] = 2,
    alarm_share: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="with --farm: share of the tags with a high alarm in the plant file")] = 0.2,
) -> None:
    """Serve the example plant as PLC-1 over OPC UA and Modbus TCP, paced at real time × speed."""
    if farm is not None:
        raise typer.Exit(run_farm(FarmOptions(farm, tags, protocol, plant_out, base_port, processes, alarm_share,
                                              seed if seed is not None else 42, state_dir)))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:
        for noisy in ("asyncua", "pymodbus"):
            logging.getLogger(noisy).setLevel(logging.CRITICAL)  # we report what matters ourselves
    try:
        plc = SimulatedPlc(config, speed=speed, opcua_port=opcua_port, modbus_port=modbus_port,
                           word_order=word_order, require_security=require_security, state_dir=state_dir,
                           watchdog_timeout_s=watchdog_timeout_s, seed=seed, scenario=scenario,
                           trusted_clients_dir=trusted_clients)
    except ConfigError as exc:
        for issue in exc.issues:
            typer.echo(str(issue), err=True)
        raise typer.Exit(1) from None
    except (ValueError, UsersError, OSError) as exc:
        typer.echo(f"plantctl sim: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        asyncio.run(_serve(plc))
    except (OSError, RuntimeError, ValueError) as exc:
        typer.echo(f"plantctl sim: could not start: {exc}", err=True)
        raise typer.Exit(2) from None


async def _serve(plc: SimulatedPlc) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await plc.start()
    except OSError as exc:
        await plc.stop()
        raise OSError(f"{exc.strerror or exc} (is another simulator or PLC on these ports?)") from exc
    except RuntimeError:
        await plc.stop()
        raise RuntimeError(f"Modbus TCP could not listen on {plc.modbus_host}:{plc.modbus_port} "
                           "(port in use?)") from None
    s = plc.opcua.settings
    modes = "Sign, SignAndEncrypt" if s.require_security else "None, Sign, SignAndEncrypt"
    typer.echo(f"PLC-1 simulated at ×{plc.pacing.speed:g} real time (Ctrl-C stops)")
    typer.echo(f"  OPC UA      {plc.opcua_endpoint}  security {modes} (Basic256Sha256); "
               f"users: {', '.join(sorted(s.users)) or 'anonymous only'}")
    typer.echo(f"  Modbus TCP  {plc.modbus_host}:{plc.modbus_port} unit {plc.modbus_unit_id}, "
               f"float32 {plc.modbus.word_order.value}")
    typer.echo(f"  watchdog    {plc.watchdog.timeout_s:g} s (wall clock) after the first heartbeat")
    if plc.comms_drops:
        typer.echo(f"  comms drops {len(plc.comms_drops)} scheduled by the scenario")
    try:
        await stop.wait()
    finally:
        typer.echo("stopping…")
        await plc.stop()


sim_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
sim_app.command()(sim_command)

if __name__ == "__main__":
    sim_app()
