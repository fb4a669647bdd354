"""The `plantctl` command: one entry point for operators, field engineers and process engineers."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from plantctl.config import ConfigError
from plantctl.plantfile import load_plant


def _users_app() -> typer.Typer:
    from api.cli import users_app

    return users_app


def _report_app() -> typer.Typer:
    from plantctl.alarms.report import report_alarms_command
    from plantctl.tools.report_commands import mount as mount_reports

    report_app = typer.Typer(help="Reports over a period from the plant database.", no_args_is_help=True)
    report_app.command("alarms")(report_alarms_command)
    mount_reports(report_app)
    return report_app


def _probe_app() -> typer.Typer:
    from connectors.modbus.probe import probe_modbus_command
    from connectors.opcua.probe import probe_opcua_command

    probe = typer.Typer(help="Read a device once to find its addresses and decodings.", no_args_is_help=True)
    probe.command("modbus")(probe_modbus_command)
    probe.command("opcua")(probe_opcua_command)
    return probe


def _command(module: str, attr: str, name: str) -> Callable[[], typer.Typer]:
    def one() -> typer.Typer:
        sub = typer.Typer()
        sub.command(name)(getattr(importlib.import_module(module), attr))
        return sub
    return one


# Commands whose code lives with the package that owns the subject, imported only when called (or listed by
# --help): `plantctl run` on a real plant loads neither the simulator nor the tuning tools.
# name -> (builder, is a group of subcommands)
_LAZY: dict[str, tuple[Callable[[], typer.Typer], bool]] = {
    "users": (_users_app, True),
    "report": (_report_app, True),
    "sim": (_command("sim.cli", "sim_command", "sim"), False),
    "tune": (_command("plantctl.tools.tuning", "tune_command", "tune"), False),
    "browse": (_command("connectors.opcua.browse", "browse_command", "browse"), False),
    "probe": (_probe_app, True),
}


class _LazyGroup(TyperGroup):
    """The top-level command group, building a lazy subcommand the first time it is looked up.

    ctx and the command are typed Any: typer's click types live in its private typer._click module.
    """

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in _LAZY if n not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in _LAZY:
            build, is_group = _LAZY[cmd_name]
            sub = build()
            cmd = typer.main.get_group(sub) if is_group else typer.main.get_command(sub)
            cmd.name = cmd_name
            self.add_command(cmd, cmd_name)
        return super().get_command(ctx, cmd_name)


app = typer.Typer(
    name="plantctl",
    help="Monitoring and dosing control for industrial wastewater treatment.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=_LazyGroup,
)
db_app = typer.Typer(help="The local TimescaleDB plantctl provisions when PLANTCTL_DATABASE_URL is not set.",
                     no_args_is_help=True)
app.add_typer(db_app, name="db")

ConfigPath = Annotated[Path, typer.Argument(help="plant file (YAML)", show_default=False)]


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


@app.command("check-config")
def check_config(path: ConfigPath) -> None:
    """Check a plant file and report every problem at once, with file and line."""
    try:
        config = load_plant(path)
    except ConfigError as exc:
        for issue in exc.issues:
            typer.echo(str(issue), err=True)
        n = len(exc.issues)
        raise _fail(f"{path}: {n} problem{'s' if n != 1 else ''}", 1) from None
    from plantctl.config.todos import todo_warnings

    for warning in todo_warnings(path):
        typer.echo(warning, err=True)
    typer.echo(f"{path}: OK — {len(config.sources)} sources, {len(config.tags)} tags, "
               f"{len(config.loops)} loops, {len(config.alarms)} alarms")


@db_app.command("up")
def db_up() -> None:
    """Install (once), initialise and start the local database; idempotent."""
    from plantctl.db import LocalDatabase, ProvisionError

    try:
        db = LocalDatabase().up()
    except ProvisionError as exc:
        raise _fail(f"plantctl db up: {exc}") from None
    typer.echo(f"local TimescaleDB up on 127.0.0.1:{db.port} (plantctl db url prints the URL)")


@db_app.command("down")
def db_down() -> None:
    """Stop the local database (its data is kept)."""
    from plantctl.db import LocalDatabase, ProvisionError

    try:
        LocalDatabase().down()
    except ProvisionError as exc:
        raise _fail(f"plantctl db down: {exc}") from None
    typer.echo("local TimescaleDB stopped")


@db_app.command("status")
def db_status() -> None:
    """Say whether the local database runs, where, and which TimescaleDB edition it has."""
    from plantctl.db import LocalDatabase, ProvisionError

    try:
        info = LocalDatabase().status()
    except ProvisionError as exc:
        raise _fail(f"plantctl db status: {exc}") from None
    typer.echo(json.dumps(info, indent=2))
    if not info["running"]:
        raise typer.Exit(3)


@db_app.command("url")
def db_url() -> None:
    """Print the database URL the service uses (PLANTCTL_DATABASE_URL wins)."""
    import os

    from plantctl.db import LocalDatabase, ProvisionError

    explicit = os.environ.get("PLANTCTL_DATABASE_URL")
    if explicit:
        typer.echo(explicit)
        return
    try:
        typer.echo(LocalDatabase().app_url)
    except ProvisionError as exc:
        raise _fail(f"plantctl db url: {exc}") from None


@app.command("run")
def run(
    config: Annotated[Path, typer.Option(help="plant file (YAML)")] = Path("examples/plant.yaml"),
    host: Annotated[str, typer.Option(help="address to serve the API and panel on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port of the API and panel")] = 8080,
    simulate: Annotated[bool, typer.Option("--simulate", help="start the built-in simulated PLC")] = False,
    speed: Annotated[float, typer.Option(help="simulation speed, × real time (with --simulate)")] = 1.0,
    scenario: Annotated[Path | None, typer.Option(help="scenario file for the simulator")] = None,
) -> None:
    """Run the service: connectors, historian, alarms, control and the API on one process."""

    from api.auth.bootstrap import AuthSetupError
    from plantctl.db import ProvisionError
    from plantctl.logs import configure_logging
    from plantctl.serve import PortBusyError, ServeOptions, run_event_loop, serve

    configure_logging()
    try:
        run_event_loop(serve(ServeOptions(config, host, port, simulate, speed, scenario)))
    except ConfigError as exc:
        for issue in exc.issues:
            typer.echo(str(issue), err=True)
        raise _fail(f"{config}: not started ({len(exc.issues)} problems)", 1) from None
    except (ProvisionError, AuthSetupError, PortBusyError) as exc:
        raise _fail(f"plantctl run: {exc}") from None
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    app()
