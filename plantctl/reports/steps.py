"""Stored samples as step functions: a value stands until the next sample, for at most a hold time.

A report integrates flows and times over these steps; a Bad sample, or a gap longer than the hold
time, is "no data" — counted as such, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Series:
    """One tag's samples, epoch seconds ascending; `good` is the OPC quality verdict per sample."""

    t: Floats
    value: Floats
    good: Bools

    @classmethod
    def empty(cls) -> Series:
        return cls(np.empty(0), np.empty(0), np.empty(0, dtype=bool))


@dataclass(frozen=True, slots=True)
class Grid:
    """Segments [edges[k], edges[k+1]) on which every series of a report is constant."""

    edges: Floats

    @property
    def start(self) -> Floats:
        return self.edges[:-1]

    @property
    def duration(self) -> Floats:
        return np.diff(self.edges)


def grid(start: float, end: float, series: list[Series], hold_s: float, cuts: Floats) -> Grid:
    """Every point where some series may change (a sample, a hold running out) or a report row begins."""
    pts = [np.array([start, end]), cuts]
    for s in series:
        pts.append(s.t)
        pts.append(s.t + hold_s)
    edges = np.unique(np.concatenate(pts))
    return Grid(edges[(edges >= start) & (edges <= end)])


def sample_on(g: Grid, s: Series, hold_s: float) -> tuple[Floats, Bools]:
    """The series' value on each segment, and whether it is known there (a Good sample within its hold)."""
    n = len(g.edges) - 1
    if len(s.t) == 0:
        return np.full(n, np.nan), np.zeros(n, dtype=bool)
    idx = np.searchsorted(s.t, g.start, side="right") - 1
    has = idx >= 0
    safe = np.where(has, idx, 0)
    fresh = has & (g.start - s.t[safe] < hold_s)
    known = fresh & s.good[safe] & np.isfinite(s.value[safe])
    return np.where(known, s.value[safe], np.nan), known


def row_of(g: Grid, row_starts: Floats) -> npt.NDArray[np.intp]:
    """Which report row (by its start, ascending) each segment falls in."""
    return np.searchsorted(row_starts, g.start, side="right") - 1


def per_row(weights: Floats, rows: npt.NDArray[np.intp], n_rows: int) -> Floats:
    """Sum of segment weights per report row."""
    return np.asarray(np.bincount(rows, weights=weights, minlength=n_rows)[:n_rows], dtype=np.float64)
