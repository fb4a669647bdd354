"""`plantctl report daily|monthly`: make a discharge report on demand, file it, and write it out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import psycopg
import typer

from plantctl.config import ConfigError
from plantctl.db import ProvisionError
from plantctl.db import database_url as local_database_url
from plantctl.plantfile import load_plant
from plantctl.reports.compute import ReportError
from plantctl.reports.generate import make_and_file
from plantctl.reports.store import read_report

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="the plant file (time zone, reporting: tags)")]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="pdf or csv")]
OutOpt = Annotated[Path | None, typer.Option("--out", "-o", help="file to write (default: <kind>-<period>.<format>)")]
DbOpt = Annotated[str | None, typer.Option("--database-url", envvar="PLANTCTL_DATABASE_URL",
                                           help="default: the local database")]


def _run(kind: str, key: str, config: Path, fmt: str, out: Path | None, database_url: str | None) -> None:
    name = f"plantctl report {kind}"
    if fmt not in ("pdf", "csv"):
        typer.echo(f"{name}: --format {fmt!r}: pdf or csv", err=True)
        raise typer.Exit(2)
    try:
        plant = load_plant(config)
        url = database_url or local_database_url()
        with psycopg.connect(url, connect_timeout=10, autocommit=True) as conn:
            filed = make_and_file(conn, plant, kind, key, (fmt,), generated_by="cli")[0]
            got = read_report(conn, kind, key, fmt, filed.revision)
    except ConfigError as exc:
        typer.echo(f"{name}: {exc}", err=True)
        raise typer.Exit(2) from None
    except (ValueError, ReportError, psycopg.OperationalError, ProvisionError) as exc:
        typer.echo(f"{name}: {exc}", err=True)
        raise typer.Exit(2) from None
    except psycopg.errors.UndefinedTable:
        typer.echo(f"{name}: the database has no historian tables yet (start the service once)", err=True)
        raise typer.Exit(2) from None
    assert got is not None
    target = out or Path(f"{kind}-{key}.{fmt}")
    target.write_bytes(got[1])
    state = "filed" if filed.new else "already filed, identical"
    typer.echo(f"{target}: {kind} report {key} ({fmt}, revision {filed.revision}, {state}, sha256 {filed.sha256})")


def report_daily_command(
    date: Annotated[str, typer.Option("--date", help="the plant-local day, YYYY-MM-DD")],
    config: ConfigOpt = Path("plant.yaml"), fmt: FormatOpt = "pdf", out: OutOpt = None, database_url: DbOpt = None,
) -> None:
    """Daily discharge report: per hour pH min/mean/max, minutes out of permit, volumes, reagents, lithium."""
    _run("daily", date, config, fmt, out, database_url)


def report_monthly_command(
    month: Annotated[str, typer.Option("--month", help="the plant-local month, YYYY-MM")],
    config: ConfigOpt = Path("plant.yaml"), fmt: FormatOpt = "pdf", out: OutOpt = None, database_url: DbOpt = None,
) -> None:
    """Monthly discharge report: the daily figures per day and in total."""
    _run("monthly", month, config, fmt, out, database_url)


def mount(report_app: Any) -> None:
    report_app.command("daily")(report_daily_command)
    report_app.command("monthly")(report_monthly_command)
