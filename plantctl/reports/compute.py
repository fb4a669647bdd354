"""Compute a discharge report from the historian's raw samples (Good quality only, held for max_hold_s)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from plantctl.config.models import PlantConfig
from plantctl.config.reporting import ReportingConfig
from plantctl.reports.column import column_state, uptake
from plantctl.reports.figures import AlarmFigures, ColumnFigures, OperatorAction, Report, RowFigures
from plantctl.reports.history import fetch_series
from plantctl.reports.period import Period
from plantctl.reports.steps import Floats, Series, grid, per_row, row_of, sample_on

__all__ = ["KeptSeries", "ReportError", "SeriesReader", "compute", "fetch_series"]

SeriesReader = Callable[[psycopg.Connection[Any], str, datetime, datetime], Series]
"""How compute reads a tag's samples with start <= ts < end: fetch_series, or a KeptSeries that reads only the new."""


class ReportError(ValueError):
    """A report cannot be made (no reporting: section, unknown tag); the message says what to fix."""


def _epoch(t: datetime) -> float:
    return t.timestamp()


def _reporting(plant: PlantConfig) -> ReportingConfig:
    if plant.reporting is None:
        raise ReportError("the plant file has no reporting: section naming the discharge pH and flow tags "
                          "(docs/reports.md)")
    return plant.reporting


def compute(conn: psycopg.Connection[Any], plant: PlantConfig, period: Period,
            read: SeriesReader = fetch_series) -> Report:
    """Every figure of the period, per row (hour or day) and in total, from the stored samples."""
    cfg = _reporting(plant)
    hold = cfg.max_hold_s
    t0, t1 = _epoch(period.start), _epoch(period.end)
    li_in = cfg.lithium.inlet
    li_out = cfg.lithium.outlet
    hold_in = li_in.hold_s if li_in is not None and li_in.hold_s is not None else hold
    hold_out = li_out.hold_s if li_out is not None and li_out.hold_s is not None else hold
    lookback = period.start.timestamp() - max(hold, hold_in, hold_out)

    loaded: dict[str, Series] = {}  # a tag named twice (the discharge flow as the lithium flow) is read once

    def load(tag: str | None) -> Series | None:
        if tag is None:
            return None
        if tag not in loaded:
            loaded[tag] = read(conn, tag, datetime.fromtimestamp(lookback, UTC), period.end)
        return loaded[tag]

    ph = load(cfg.discharge_ph)
    q = load(cfg.discharge_flow)
    div = load(cfg.diverted_flow)
    reagent_series = [load(r.flow if r.flow is not None else r.pump_speed) for r in cfg.reagents]
    li_series = {
        "in_c": load(li_in.concentration if li_in else None), "in_q": load(li_in.flow if li_in else None),
        "out_c": load(li_out.concentration if li_out else None), "out_q": load(li_out.flow if li_out else None)}
    everything = [s for s in [ph, q, div, *reagent_series, *li_series.values()] if s is not None]

    row_starts = np.array([_epoch(s.start) for s in period.slots])
    # an analyser's results hold longer (sample and hold): where each one runs out is a segment edge too
    held = [c.t + h for c, h in ((li_series["in_c"], hold_in), (li_series["out_c"], hold_out)) if c is not None]
    g = grid(t0, t1, everything, hold, np.concatenate([row_starts, *held]))
    rows = row_of(g, row_starts)
    n = len(period.slots)
    dur = g.duration
    hours = dur / 3600.0

    assert ph is not None and q is not None
    ph_v, ph_ok = sample_on(g, ph, hold)
    q_v, q_ok = sample_on(g, q, hold)
    discharging = q_ok & (q_v > 0)
    outside = ph_ok & ((ph_v < cfg.permit.ph_low) | (ph_v > cfg.permit.ph_high))
    flow_m3 = np.where(q_ok, q_v, 0.0) * hours

    def row_sum(weights: Floats) -> Floats:
        return per_row(weights, rows, n)

    discharging_min = row_sum(np.where(discharging, dur, 0.0)) / 60
    out_min = row_sum(np.where(discharging & outside, dur, 0.0)) / 60
    unknown_min = row_sum(np.where(discharging & ~ph_ok, dur, 0.0)) / 60
    vol = row_sum(flow_m3)
    offspec = row_sum(np.where(outside, flow_m3, 0.0))
    diverted: Floats | None = None
    if div is not None:
        d_v, d_ok = sample_on(g, div, hold)
        diverted = row_sum(np.where(d_ok, d_v, 0.0) * hours)
    reagents = []
    for r, s in zip(cfg.reagents, reagent_series, strict=True):
        assert s is not None
        v, ok = sample_on(g, s, hold)
        l_h = v if r.flow is not None else v / 100.0 * float(r.capacity_l_h or 0.0)
        reagents.append(row_sum(np.where(ok, l_h, 0.0) * hours))

    def li_kg(c: Series | None, flow: Series | None, c_hold: float) -> Floats | None:
        if c is None or flow is None:
            return None
        cv, cok = sample_on(g, c, c_hold)
        fv, fok = sample_on(g, flow, hold)
        return row_sum(np.where(cok & fok, cv * fv, 0.0) * hours) / 1000.0  # mg/L = g/m3 -> kg

    li_in_kg = li_kg(li_series["in_c"], li_series["in_q"], hold_in)
    li_out_kg = li_kg(li_series["out_c"], li_series["out_q"], hold_out)

    def ph_stats(mask: np.ndarray[Any, np.dtype[np.bool_]]) -> tuple[float | None, float | None, float | None]:
        sel = mask & ph_ok & (dur > 0)
        if not sel.any():
            return None, None, None
        return (float(ph_v[sel].min()), float(np.average(ph_v[sel], weights=dur[sel])), float(ph_v[sel].max()))

    def figures(label: str, mask: np.ndarray[Any, np.dtype[np.bool_]], i: int | None) -> RowFigures:
        def pick(a: Floats | None) -> float | None:
            if a is None:
                return None
            return float(a[i]) if i is not None else float(a.sum())

        lo, mean, hi = ph_stats(mask)
        return RowFigures(
            label=label, ph_min=lo, ph_mean=mean, ph_max=hi,
            minutes_discharging=pick(discharging_min) or 0.0, minutes_out_of_permit=pick(out_min) or 0.0,
            minutes_ph_unknown=pick(unknown_min) or 0.0, volume_discharged_m3=pick(vol) or 0.0,
            volume_offspec_m3=pick(offspec) or 0.0, volume_diverted_m3=pick(diverted),
            reagents_l=tuple(pick(a) or 0.0 for a in reagents),
            li_in_kg=pick(li_in_kg), li_out_kg=pick(li_out_kg))

    row_figs = tuple(figures(s.label, rows == i, i) for i, s in enumerate(period.slots))
    total = figures("total", np.ones(len(dur), dtype=bool), None)
    return Report(
        plant=plant.plant.name, site=plant.plant.site, kind=period.kind, key=period.key, zone=period.zone,
        start=period.start, end=period.end, ph_low=cfg.permit.ph_low, ph_high=cfg.permit.ph_high,
        discharge_ph_tag=cfg.discharge_ph, reagent_names=tuple(r.name for r in cfg.reagents),
        rows=row_figs, total=total, alarms=_alarms(conn, period), actions=_actions(conn, period),
        column=_column(conn, cfg, period))


class KeptSeries:
    """Each tag's samples kept between reads of a window that only grows at its end (the overview's "today"), so a
    read fetches what came since the last one instead of the whole day again: from `replay_s` before the last
    read's end (samples committed a little late are still seen), everything again every `full_s` (an outage's
    spool replayed hours late) and whenever the window's start or end moves back."""

    def __init__(self, replay_s: float = 300.0, full_s: float = 900.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.replay = timedelta(seconds=replay_s)
        self.full_s = full_s
        self._clock = clock
        self._kept: dict[str, tuple[datetime, datetime, Series, float]] = {}  # start, end, samples, full read at
        self.full_reads = 0
        self.tail_reads = 0

    def __call__(self, conn: psycopg.Connection[Any], tag: str, start: datetime, end: datetime) -> Series:
        now = self._clock()
        kept = self._kept.get(tag)
        if kept is None or kept[0] != start or end < kept[1] or now - kept[3] >= self.full_s:
            series, full_at = fetch_series(conn, tag, start, end), now
            self.full_reads += 1
        else:
            _, until, old, full_at = kept
            since = max(start, until - self.replay)
            new = fetch_series(conn, tag, since, end)
            keep = old.t < since.timestamp()  # what the new read covers is replaced by it
            series = Series(np.concatenate([old.t[keep], new.t]), np.concatenate([old.value[keep], new.value]),
                            np.concatenate([old.good[keep], new.good]))
            self.tail_reads += 1
        self._kept[tag] = (start, end, series, full_at)
        return series


def _column(conn: psycopg.Connection[Any], cfg: ReportingConfig, period: Period) -> ColumnFigures | None:
    """Lithium the column took up in the period, and its loading when the period ended."""
    col = cfg.column
    if col is None:
        return None
    took = uptake(conn, col, cfg.max_hold_s, period.start, period.end)
    end = column_state(conn, col, cfg.max_hold_s, period.end)
    return ColumnFigures(
        column=col.name, capacity_kg=col.capacity_kg, taken_up_kg=took.kg, unknown_h=took.unknown_h,
        regenerated_at=None if end.regeneration is None else end.regeneration.at,
        regenerated_by="" if end.regeneration is None else end.regeneration.by,
        loaded_kg_end=end.loaded_kg, loading_pct_end=end.loading_pct)


def _alarms(conn: psycopg.Connection[Any], period: Period) -> AlarmFigures | None:
    """The ISA-18.2 / EEMUA 191 figures of the period; None where the database has no alarm journal."""
    from plantctl.alarms.health import alarm_health

    try:
        with conn.transaction():
            h = alarm_health(conn, period.start, period.end)
    except psycopg.errors.UndefinedTable:
        return None
    return AlarmFigures(
        annunciations=h.annunciations, per_10min_avg=h.per_10min_avg, per_10min_max=h.per_10min_max,
        flood_share=h.flood_share, chattering=len(h.chattering), standing_at_end=len(h.standing),
        top=tuple((a.alarm, a.count) for a in h.top[:5]))


def _change(old: Any, new: Any) -> str:
    def short(v: Any) -> str:
        return "" if v is None else json.dumps(v, sort_keys=True, separators=(",", ":"))

    o, n = short(old), short(new)
    return f"{o} -> {n}" if o and n else n or o


def _actions(conn: psycopg.Connection[Any], period: Period) -> tuple[OperatorAction, ...]:
    """Operator and engineer actions of the period from the audit trail, oldest first."""
    try:
        with conn.transaction():
            # occurred: when the action was taken (ts is the insert, later for a record replayed after an outage)
            cur = conn.execute(
                "SELECT coalesce(occurred, ts) AS at, actor, action, target, old_value, new_value FROM audit_log "
                "WHERE coalesce(occurred, ts) >= %s AND coalesce(occurred, ts) < %s ORDER BY at, id",
                (period.start, period.end))
            rows = cur.fetchall()
    except psycopg.errors.UndefinedTable:
        return ()
    return tuple(OperatorAction(ts.astimezone(UTC), str(actor), str(action), str(target), _change(old, new))
                 for ts, actor, action, target, old, new in rows)
