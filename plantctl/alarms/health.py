"""Alarm-system health for a period, from the journal (ISA-18.2 §16 monitoring, EEMUA 191 benchmarks).

An annunciation is a journal row that makes an alarm UNACK from any other state (a new
activation, a re-alarm, or an unshelve/unsuppress/return to service that finds the condition
active); shelved, suppressed and out-of-service alarms are not annunciated and not counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg

FLOOD_WINDOW = timedelta(minutes=10)
FLOOD_THRESHOLD = 10  # ISA-18.2 §16: more than 10 alarms in 10 minutes per operator is a flood
CHATTER_WINDOW = timedelta(minutes=1)
CHATTER_COUNT = 3  # three or more activations of one alarm within a minute
STALE_AFTER = timedelta(hours=24)

_ANNUNCIATION = "new_state = 'UNACK' AND old_state <> 'UNACK'"


@dataclass(frozen=True, slots=True)
class FloodPeriod:
    start: datetime
    end: datetime
    alarms: int


@dataclass(frozen=True, slots=True)
class FrequentAlarm:
    alarm: str
    count: int
    share: float  # of all annunciations in the period, 0..1


@dataclass(frozen=True, slots=True)
class ChatteringAlarm:
    alarm: str
    episodes: int  # activations that began a run of ≥ 3 within a minute
    first: datetime


@dataclass(frozen=True, slots=True)
class StandingAlarm:
    alarm: str
    state: str
    priority: int
    active_since: datetime | None
    age: timedelta | None


@dataclass
class AlarmHealth:
    """The KPIs of one period; rates are per operator position."""

    start: datetime
    end: datetime
    operators: int
    annunciations: int
    per_10min_avg: float
    per_10min_max: float
    flood_periods: list[FloodPeriod] = field(default_factory=list)
    flood_share: float = 0.0  # of the period's 10-minute windows
    top: list[FrequentAlarm] = field(default_factory=list)
    top10_share: float = 0.0
    chattering: list[ChatteringAlarm] = field(default_factory=list)
    standing: list[StandingAlarm] = field(default_factory=list)
    stale: list[StandingAlarm] = field(default_factory=list)
    shelved: list[str] = field(default_factory=list)
    by_priority: dict[int, int] = field(default_factory=dict)
    operator_actions: int = 0
    acks: int = 0  # acknowledgements of raised alarms in the period
    ack_median_s: float | None = None  # time from annunciation to acknowledgement
    ack_p90_s: float | None = None


def _check_period(start: datetime, end: datetime, operators: int) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("the period's times must be timezone-aware (UTC)")
    if not start < end:
        raise ValueError(f"the period is empty: from {start.isoformat()} is not before to {end.isoformat()}")
    if operators < 1:
        raise ValueError(f"operators must be at least 1 (got {operators})")


def alarm_health(conn: psycopg.Connection[Any], start: datetime, end: datetime, operators: int = 1) -> AlarmHealth:
    """Compute every KPI for [start, end) from alarm_journal."""
    _check_period(start, end, operators)
    period = (start, end)
    windows = max(1, -(-int((end - start).total_seconds()) // int(FLOOD_WINDOW.total_seconds())))

    buckets = conn.execute(
        f"SELECT time_bucket(%s::interval, ts, %s::timestamptz) AS b, count(*) FROM alarm_journal "
        f"WHERE ts >= %s AND ts < %s AND {_ANNUNCIATION} GROUP BY b ORDER BY b",
        (FLOOD_WINDOW, start, *period)).fetchall()
    total = sum(int(n) for _, n in buckets)
    per_bucket = [(b, int(n) / operators) for b, n in buckets]
    floods: list[FloodPeriod] = []
    for b, rate in per_bucket:
        if rate > FLOOD_THRESHOLD:
            n = round(rate * operators)
            if floods and floods[-1].end == b:
                last = floods[-1]
                floods[-1] = FloodPeriod(last.start, min(b + FLOOD_WINDOW, end), last.alarms + n)
            else:
                floods.append(FloodPeriod(b, min(b + FLOOD_WINDOW, end), n))
    flood_windows = sum(1 for _, r in per_bucket if r > FLOOD_THRESHOLD)

    top_rows = conn.execute(
        f"SELECT alarm, count(*) AS n FROM alarm_journal WHERE ts >= %s AND ts < %s AND {_ANNUNCIATION} "
        "GROUP BY alarm ORDER BY n DESC, alarm LIMIT 10", period).fetchall()
    top = [FrequentAlarm(str(a), int(n), int(n) / total if total else 0.0) for a, n in top_rows]

    chatter_rows = conn.execute(
        f"SELECT alarm, count(*), min(ts) FROM ("
        f"  SELECT alarm, ts, lead(ts, %s) OVER (PARTITION BY alarm ORDER BY ts, id) AS later"
        f"  FROM alarm_journal WHERE ts >= %s AND ts < %s AND {_ANNUNCIATION}) a "
        "WHERE later IS NOT NULL AND later - ts <= %s GROUP BY alarm ORDER BY count(*) DESC, alarm",
        (CHATTER_COUNT - 1, *period, CHATTER_WINDOW)).fetchall()
    chattering = [ChatteringAlarm(str(a), int(n), first) for a, n, first in chatter_rows]

    last_rows = conn.execute(
        "SELECT DISTINCT ON (alarm) alarm, new_state, priority, active, latched, active_since "
        "FROM alarm_journal WHERE ts < %s ORDER BY alarm, ts DESC, id DESC", (end,)).fetchall()
    standing: list[StandingAlarm] = []
    shelved: list[str] = []
    for alarm, state, prio, _active, _latched, since in last_rows:
        if state in ("UNACK", "ACKED"):
            standing.append(StandingAlarm(str(alarm), str(state), int(prio), since,
                                          None if since is None else end - since))
        elif state == "SHLVD":
            shelved.append(str(alarm))
    standing.sort(key=lambda s: (-(s.age or timedelta(0)).total_seconds(), s.alarm))
    stale = [s for s in standing if s.age is not None and s.age > STALE_AFTER]

    prio_rows = conn.execute(
        f"SELECT priority, count(*) FROM alarm_journal WHERE ts >= %s AND ts < %s AND {_ANNUNCIATION} "
        "GROUP BY priority ORDER BY priority", period).fetchall()
    actions_row = conn.execute(
        "SELECT count(*) FROM alarm_journal WHERE ts >= %s AND ts < %s AND user_name <> ''", period).fetchone()

    ack_row = conn.execute(
        "SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY s), "
        "percentile_cont(0.9) WITHIN GROUP (ORDER BY s) FROM ("
        "  SELECT extract(epoch FROM a.ts - (SELECT max(u.ts) FROM alarm_journal u WHERE u.alarm = a.alarm"
        "   AND u.ts <= a.ts AND u.new_state = 'UNACK' AND u.old_state <> 'UNACK'"
        "  )) AS s FROM alarm_journal a WHERE a.event = 'ack' AND a.old_state = 'UNACK' AND a.ts >= %s AND a.ts < %s"
        ") acks WHERE s IS NOT NULL", period).fetchone()
    acks, ack_median, ack_p90 = ack_row if ack_row else (0, None, None)

    return AlarmHealth(
        start=start, end=end, operators=operators, annunciations=total,
        acks=int(acks), ack_median_s=None if ack_median is None else float(ack_median),
        ack_p90_s=None if ack_p90 is None else float(ack_p90),
        per_10min_avg=total / operators / windows,
        per_10min_max=max((r for _, r in per_bucket), default=0.0),
        flood_periods=floods, flood_share=flood_windows / windows,
        top=top, top10_share=sum(t.share for t in top),
        chattering=chattering, standing=standing, stale=stale, shelved=sorted(shelved),
        by_priority={int(p): int(n) for p, n in prio_rows},
        operator_actions=int(actions_row[0]) if actions_row else 0,
    )
