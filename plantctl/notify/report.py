"""Read-side of notifications: the log per alarm and the time to acknowledge, for the API and the panel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg


@dataclass(frozen=True, slots=True)
class IncidentRow:
    id: int
    alarm: str
    pipeline: str
    priority: int
    raised_at: datetime
    step: int
    next_step_at: datetime | None
    notified: list[str]
    closed_at: datetime | None
    close_reason: str | None
    acked_by: str | None
    acked_via: str | None


@dataclass(frozen=True, slots=True)
class MessageRow:
    id: int
    created: datetime
    recipient: str
    channel: str
    kind: str
    subject: str
    status: str
    attempts: int
    last_error: str
    sent_at: datetime | None
    escalated: bool


async def alarm_log(conn: psycopg.AsyncConnection[Any], alarm: str, limit: int = 50,
                    ) -> tuple[list[IncidentRow], list[MessageRow]]:
    """An alarm's incidents (newest first) and every message that named it."""
    cur = await conn.execute(
        "SELECT id, alarm, pipeline, priority, raised_at, step, next_step_at, notified, closed_at, close_reason, "
        "acked_by, acked_via FROM notify_incident WHERE alarm = %s ORDER BY raised_at DESC, id DESC LIMIT %s",
        (alarm, limit))
    incidents = [IncidentRow(*r) for r in await cur.fetchall()]
    cur = await conn.execute(
        "SELECT id, created, recipient, channel, kind, subject, status, attempts, last_error, sent_at, escalated "
        "FROM notify_message WHERE alarms @> ARRAY[%s]::text[] ORDER BY created DESC, id DESC LIMIT %s",
        (alarm, limit * 10))
    return incidents, [MessageRow(*r) for r in await cur.fetchall()]


@dataclass(frozen=True, slots=True)
class AckTimes:
    """Time from an alarm needing someone to its acknowledgement, over acknowledged incidents."""

    priority: int | None
    acknowledged: int
    median_s: float | None
    p90_s: float | None
    max_s: float | None


async def time_to_acknowledge(conn: psycopg.AsyncConnection[Any], start: datetime, end: datetime) -> list[AckTimes]:
    """Per priority and overall (priority None), for incidents raised in [start, end)."""
    cur = await conn.execute(
        "SELECT priority, count(*), "
        "percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM closed_at - raised_at)), "
        "percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM closed_at - raised_at)), "
        "max(extract(epoch FROM closed_at - raised_at)) "
        "FROM notify_incident WHERE close_reason = 'ack' AND raised_at >= %s AND raised_at < %s "
        "GROUP BY GROUPING SETS ((priority), ()) ORDER BY priority NULLS FIRST", (start, end))
    return [AckTimes(p, int(n), _f(med), _f(p90), _f(mx)) for p, n, med, p90, mx in await cur.fetchall()]


def _f(v: Any) -> float | None:
    return None if v is None else round(float(v), 1)


async def outbox_counts(conn: psycopg.AsyncConnection[Any]) -> dict[str, int]:
    cur = await conn.execute("SELECT status, count(*) FROM notify_message GROUP BY status")
    return {str(s): int(n) for s, n in await cur.fetchall()}
