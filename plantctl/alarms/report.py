"""`plantctl report alarms`: the alarm-system health of a period as text an operations meeting can read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import psycopg
import typer

from plantctl.alarms.health import CHATTER_COUNT, FLOOD_THRESHOLD, AlarmHealth, alarm_health
from plantctl.db import ProvisionError
from plantctl.db import database_url as local_database_url


def parse_time(text: str, what: str) -> datetime:
    """ISO 8601 time; without an offset it is taken as UTC (said so in --help)."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{what} {text!r} is not an ISO 8601 time like 2026-11-27T08:00:00Z") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _verdict(avg: float) -> str:
    # EEMUA 191 / ISA-18.2 §16 benchmarks for the average alarm rate per operator per 10 minutes
    if avg <= 1:
        return "very likely acceptable"
    if avg <= 2:
        return "manageable"
    return "over the EEMUA 191 target (≤ 1 per 10 min, ≤ 2 manageable)"


def format_health(h: AlarmHealth) -> str:
    """The report text of one period's KPIs."""
    t = "%Y-%m-%d %H:%M:%S"
    lines = [
        f"Alarm-system health {h.start.strftime(t)} – {h.end.strftime(t)} UTC "
        f"({h.operators} operator position{'s' if h.operators != 1 else ''})",
        "",
        f"Annunciated alarms:            {h.annunciations}",
        f"Alarms per operator per 10 min: average {h.per_10min_avg:.2f} ({_verdict(h.per_10min_avg)}), "
        f"peak {h.per_10min_max:.0f}",
        f"Flood periods (> {FLOOD_THRESHOLD} in 10 min): {len(h.flood_periods)}, "
        f"{h.flood_share * 100:.1f} % of the period's 10-minute windows",
    ]
    lines += [f"  {f.start.strftime(t)} – {f.end.strftime(t)}: {f.alarms} alarms" for f in h.flood_periods]
    if h.by_priority:
        dist = ", ".join(f"P{p}: {n} ({n / h.annunciations * 100:.0f} %)" for p, n in sorted(h.by_priority.items()))
        lines.append(f"By priority:                   {dist}")
    lines.append(f"Operator actions:              {h.operator_actions}")
    if h.acks and h.ack_median_s is not None and h.ack_p90_s is not None:
        lines.append(f"Time to acknowledge:           median {h.ack_median_s:.0f} s, 90 % within "
                     f"{h.ack_p90_s:.0f} s ({h.acks} acknowledgements)")
    lines += ["", f"Top {len(h.top)} most frequent ({h.top10_share * 100:.1f} % of all):"]
    lines += [f"  {i:2d}. {a.alarm:<28} {a.count:6d}  {a.share * 100:5.1f} %" for i, a in enumerate(h.top, 1)]
    if not h.top:
        lines.append("  none")
    lines += ["", f"Chattering (≥ {CHATTER_COUNT} activations within a minute): {len(h.chattering)}"]
    lines += [f"  {c.alarm:<28} {c.episodes:6d} episode(s), first {c.first.strftime(t)}" for c in h.chattering]
    lines += ["", f"Standing at the end of the period: {len(h.standing)}"]
    for s in h.standing:
        age = "unknown" if s.age is None else f"{s.age.total_seconds() / 3600:.1f} h"
        lines.append(f"  {s.alarm:<28} {s.state:<6} P{s.priority}  active for {age}")
    lines += ["", f"Stale (active > 24 h): {len(h.stale)}"]
    lines += [f"  {s.alarm}" for s in h.stale]
    lines += ["", f"Shelved at the end of the period: {len(h.shelved)}"]
    lines += [f"  {name}" for name in h.shelved]
    return "\n".join(lines)


def report_alarms(from_: datetime, to: datetime, database_url: str, operators: int = 1) -> str:
    """The alarm-health report of [from_, to) from the journal at database_url."""
    with psycopg.connect(database_url, connect_timeout=10) as conn:
        return format_health(alarm_health(conn, from_, to, operators))


def report_alarms_command(
    from_: Annotated[str, typer.Option("--from", help="start, ISO 8601 (UTC if no offset), e.g. 2026-11-27T00:00Z")],
    to: Annotated[str, typer.Option("--to", help="end (exclusive), ISO 8601 (UTC if no offset)")],
    operators: Annotated[int, typer.Option(help="operator positions sharing these alarms", min=1)] = 1,
    database_url: Annotated[str | None, typer.Option(
        "--database-url", envvar="PLANTCTL_DATABASE_URL", help="default: the local database")] = None,
) -> None:
    """Alarm-system health of a period: rates, floods, top 10, chattering, standing and stale alarms."""
    try:
        start, end = parse_time(from_, "--from"), parse_time(to, "--to")
        if database_url is None:
            database_url = local_database_url()
        typer.echo(report_alarms(start, end, database_url, operators))
    except (ValueError, psycopg.OperationalError, ProvisionError) as exc:
        typer.echo(f"plantctl report alarms: {exc}", err=True)
        raise typer.Exit(2) from None
    except psycopg.errors.UndefinedTable:
        typer.echo("plantctl report alarms: the database has no alarm journal yet (migrations not applied)", err=True)
        raise typer.Exit(2) from None
