"""A lithium sorbent column's loading since its last regeneration, and its time to breakthrough.

Loading is the mass balance ∫ flow × (inlet − outlet) dt over the historian's samples, each held as a step
(analyser results for `analyser_hold_s`, the flow for `max_hold_s`). Time with the flow known and zero adds
nothing; time when the flow or, while water flows, either analyser is Bad or silent is *unknown*: its hours
are counted, and the loading adds for them the mean uptake rate of the measured time since regeneration —
an estimate reported beside the measured part, never a silent zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from plantctl.config.reporting import Column
from plantctl.reports.history import fetch_series
from plantctl.reports.steps import grid, sample_on

REGENERATED = "column_regenerated"  # the audit action (plantctl.audit.audit.AuditAction.COLUMN_REGENERATED)


@dataclass(frozen=True, slots=True)
class Uptake:
    """Lithium a column took up over [start, end): measured kg, and the hours measured and unknown."""

    start: datetime
    end: datetime
    kg: float
    known_h: float
    unknown_h: float

    @property
    def rate_kg_h(self) -> float | None:
        """Mean uptake over the measured time; None with none measured."""
        return self.kg / self.known_h if self.known_h > 0 else None


@dataclass(frozen=True, slots=True)
class Regeneration:
    at: datetime
    by: str


@dataclass(frozen=True, slots=True)
class ColumnState:
    """The column at `at`: loading since its last regeneration, uptake rate now, and how close breakthrough is."""

    column: str
    capacity_kg: float
    at: datetime
    regeneration: Regeneration | None
    since: Uptake | None  # regeneration → at
    estimated_kg: float | None  # unknown hours × the mean measured rate since regeneration
    window: Uptake | None  # the last uptake_window_h (from the regeneration at most)
    outlet_ratio: float | None  # latest outlet / inlet while both are known and the inlet > 0
    breakthrough_ratio: float
    note: str

    @property
    def loaded_kg(self) -> float | None:
        if self.since is None or self.estimated_kg is None:
            return None
        return self.since.kg + self.estimated_kg

    @property
    def loading_pct(self) -> float | None:
        kg = self.loaded_kg
        return None if kg is None else 100.0 * kg / self.capacity_kg

    @property
    def broken_through(self) -> bool:
        """The outlet carries more than breakthrough_ratio of the inlet's lithium now."""
        return self.outlet_ratio is not None and self.outlet_ratio > self.breakthrough_ratio

    @property
    def hours_to_breakthrough(self) -> float | None:
        """Remaining capacity ÷ the uptake rate of the window; 0 once broken through or full; None: no uptake."""
        kg = self.loaded_kg
        if self.broken_through or (kg is not None and kg >= self.capacity_kg):
            return 0.0
        rate = None if self.window is None else self.window.rate_kg_h
        if kg is None or rate is None or rate <= 0:
            return None
        return (self.capacity_kg - kg) / rate


def uptake(conn: psycopg.Connection[Any], col: Column, flow_hold_s: float, start: datetime,
           end: datetime) -> Uptake:
    """∫ flow (m3/h, the sum of the column's flows) × (inlet − outlet) (mg/L = g/m3) dt over [start, end),
    samples held as steps."""
    if end <= start:
        return Uptake(start, end, 0.0, 0.0, 0.0)
    hold_c = col.analyser_hold_s
    lookback = start - timedelta(seconds=max(hold_c, flow_hold_s))
    c_in = fetch_series(conn, col.inlet, lookback, end)
    c_out = fetch_series(conn, col.outlet, lookback, end)
    flows = [fetch_series(conn, f, lookback, end) for f in col.flows]
    t0, t1 = start.timestamp(), end.timestamp()
    # each series' own hold as the grid's cut points: the step edges of the analysers and of the flows
    g_an = grid(t0, t1, [c_in, c_out], hold_c, np.empty(0))
    g = grid(t0, t1, flows, flow_hold_s, g_an.edges)
    in_v, in_ok = sample_on(g, c_in, hold_c)
    out_v, out_ok = sample_on(g, c_out, hold_c)
    q_v, q_ok = np.zeros(len(g.edges) - 1), np.ones(len(g.edges) - 1, dtype=bool)
    for q in flows:  # the bed's flow is their sum, known where every one is
        v, ok = sample_on(g, q, flow_hold_s)
        q_v, q_ok = q_v + np.where(ok, v, 0.0), q_ok & ok
    still = q_ok & (q_v == 0)
    known = still | (q_ok & in_ok & out_ok)
    hours = g.duration / 3600.0
    g_m3 = np.where(known & ~still, q_v * (in_v - out_v), 0.0)  # g/m3 × m3/h = g/h
    return Uptake(start, end, float(np.sum(g_m3 * hours)) / 1000.0, float(np.sum(np.where(known, hours, 0.0))),
                  float(np.sum(np.where(known, 0.0, hours))))


def last_regeneration(conn: psycopg.Connection[Any], column: str, at: datetime) -> Regeneration | None:
    """The latest regeneration of `column` recorded in the audit trail at or before `at`."""
    try:
        with conn.transaction():
            row = conn.execute(
                "SELECT (new_value->>'at')::timestamptz AS at, actor FROM audit_log "
                "WHERE action = %s AND target = %s AND (new_value->>'at')::timestamptz <= %s "
                "ORDER BY at DESC, id DESC LIMIT 1", (REGENERATED, column, at)).fetchone()
    except psycopg.errors.UndefinedTable:
        return None
    return None if row is None else Regeneration(row[0].astimezone(UTC), str(row[1]))


def outlet_ratio(conn: psycopg.Connection[Any], col: Column, at: datetime) -> float | None:
    """Outlet ÷ inlet lithium from each analyser's latest result, when both are Good and within the hold."""
    start = at - timedelta(seconds=col.analyser_hold_s)
    latest = []
    for tag in (col.inlet, col.outlet):
        s = fetch_series(conn, tag, start, at + timedelta(microseconds=1))
        if len(s.t) == 0 or not s.good[-1] or not np.isfinite(s.value[-1]):
            return None
        latest.append(float(s.value[-1]))
    c_in, c_out = latest
    return c_out / c_in if c_in > 0 else None


def since_regeneration(conn: psycopg.Connection[Any], col: Column, flow_hold_s: float, regenerated: datetime,
                       at: datetime, base: Uptake | None = None) -> Uptake:
    """Uptake from a regeneration to `at`, extending `base` (an earlier uptake from the same regeneration)."""
    if base is None or base.start != regenerated or base.end > at:
        return uptake(conn, col, flow_hold_s, regenerated, at)
    more = uptake(conn, col, flow_hold_s, base.end, at)
    return Uptake(regenerated, at, base.kg + more.kg, base.known_h + more.known_h, base.unknown_h + more.unknown_h)


def column_state(conn: psycopg.Connection[Any], col: Column, flow_hold_s: float, at: datetime,
                 base: Uptake | None = None) -> ColumnState:
    """The column at `at`; `base`, an earlier uptake from the same regeneration, is extended, not recomputed."""
    regen = last_regeneration(conn, col.name, at)
    ratio = outlet_ratio(conn, col, at)
    if regen is None:
        return ColumnState(col.name, col.capacity_kg, at, None, None, None, None, ratio, col.breakthrough_ratio,
                           f"no regeneration of {col.name} recorded: loading counts from the last one "
                           "(record it in the panel or POST /api/v1/column/regenerated)")
    since = since_regeneration(conn, col, flow_hold_s, regen.at, at, base)
    mean = since.rate_kg_h
    estimated = 0.0 if since.unknown_h == 0 else (None if mean is None else since.unknown_h * mean)
    window = uptake(conn, col, flow_hold_s, max(regen.at, at - timedelta(hours=col.uptake_window_h)), at)
    note = ""
    if estimated is None:
        note = f"no lithium uptake measured since {col.name} was regenerated: loading unknown"
    elif window.rate_kg_h is None or window.rate_kg_h <= 0:
        note = f"no uptake measured in the last {col.uptake_window_h:g} h: no time to breakthrough"
    return ColumnState(col.name, col.capacity_kg, at, regen, since, estimated, window, ratio,
                       col.breakthrough_ratio, note)
