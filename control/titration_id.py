"""On-line identification of the titration curve the compensation uses, from plant data and lab titrations.

The curve is not taken from the simulator's chemistry: it is a weighted fit on a pH grid of
- the prior (the shipped lab titration), weight `prior_weight` per grid point, never forgotten;
- lab titrations an engineer enters (absolute: base per litre of effluent), weight `lab_weight`;
- plant steady states: tank pH against base dosed per litre of influent. These carry an unknown
  offset (the influent's own equivalents, which no analyser sees), so they inform the curve's
  shape — its slope, the buffering — and one common offset is fitted with them.
Every observation is forgotten with the time constant `memory_s`, so a change in buffering (TIC
stripped, metals arriving) is followed rather than assumed. The fit is weighted least squares on
the grid values, then pool-adjacent-violators (weighted isotonic regression) and a minimum step
between grid points, so the curve is strictly monotone as the compensation requires.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from control.compensation import TitrationCurve


@dataclass(frozen=True, slots=True)
class _Point:
    ts: datetime
    ph: float
    base: float
    lab: bool  # absolute (lab titration) or offset-free (plant steady state)


def isotonic(values: Sequence[float], weights: Sequence[float]) -> list[float]:
    """Weighted least-squares non-decreasing fit (pool-adjacent-violators)."""
    blocks: list[list[float]] = []  # [weighted sum, weight, count]
    for v, w in zip(values, weights, strict=True):
        blocks.append([v * w, w, 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            s, wt, c = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += wt
            blocks[-1][2] += c
    out: list[float] = []
    for s, wt, c in blocks:
        out.extend([s / wt] * int(c))
    return out


class TitrationEstimator:
    """Keeps a titration curve up to date from lab titrations and plant steady states; always monotone."""

    def __init__(self, prior: TitrationCurve, *, grid_step_ph: float = 0.5, memory_s: float = 6 * 3600.0,
                 prior_weight: float = 1.0, lab_weight: float = 20.0, min_step_mmol_l: float = 1e-3,
                 steady_window_s: float = 600.0, steady_ph_span: float = 0.05,
                 steady_dose_rel_span: float = 0.05) -> None:
        lo, hi = prior.ph_range
        n = max(round((hi - lo) / grid_step_ph), 2) + 1
        self.grid = [float(x) for x in np.linspace(lo, hi, n)]
        self.prior = prior
        self._prior_values = [prior.base(g) for g in self.grid]
        self.memory_s = memory_s
        self.prior_weight = prior_weight
        self.lab_weight = lab_weight
        self.min_step = min_step_mmol_l
        self._points: list[_Point] = []
        self.plant_offset = 0.0  # fitted: plant base per litre of influent minus the curve's base
        self._window: deque[tuple[datetime, float, float, float]] = deque()  # (ts, pH, dose mol/h, flow m3/h)
        self.steady = {"window_s": steady_window_s, "ph_span": steady_ph_span, "dose_rel_span": steady_dose_rel_span}

    # --- data in -------------------------------------------------------------------------------

    def add_lab_titration(self, ts: datetime, points: Sequence[tuple[float, float]]) -> None:
        """An engineer's lab titration of the effluent: [pH, base mmol per litre of effluent]."""
        for ph, base in points:
            if not (math.isfinite(ph) and math.isfinite(base) and 0.0 <= ph <= 14.0):
                raise ValueError(f"lab titration point ({ph}, {base}) is not a pH in 0..14 with a finite base")
        self._points.extend(_Point(ts, float(p), float(b), True) for p, b in points)

    def add_plant_point(self, ts: datetime, ph: float, base_per_l_influent: float) -> None:
        """A plant steady state: tank pH against base dosed per litre of influent (offset unknown)."""
        if math.isfinite(ph) and math.isfinite(base_per_l_influent):
            self._points.append(_Point(ts, ph, base_per_l_influent, False))

    def observe(self, ts: datetime, ph: float, dose_mol_h: float, flow_m3_h: float) -> bool:
        """Feed the running plant (PV GOOD only); a steady window becomes one plant point. True when added."""
        w = self.steady
        self._window.append((ts, ph, dose_mol_h, flow_m3_h))
        while self._window and (ts - self._window[0][0]).total_seconds() > w["window_s"]:
            self._window.popleft()
        if (ts - self._window[0][0]).total_seconds() < w["window_s"] * 0.999:
            return False
        phs = [x[1] for x in self._window]
        doses = [x[2] for x in self._window]
        flows = [x[3] for x in self._window]
        mean_flow = float(np.mean(flows))
        if mean_flow <= 0 or max(phs) - min(phs) > w["ph_span"]:
            return False
        mean_dose = float(np.mean(doses))
        if (max(doses) - min(doses)) > w["dose_rel_span"] * max(abs(mean_dose), 1e-9) \
                or (max(flows) - min(flows)) > w["dose_rel_span"] * mean_flow:
            return False
        self.add_plant_point(ts, float(np.mean(phs)), mean_dose / mean_flow)  # mol/h per m3/h = mmol/L
        self._window.clear()
        return True

    # --- the curve -----------------------------------------------------------------------------

    def curve(self, now: datetime) -> TitrationCurve:
        """The current estimate: weighted fit on the grid, then made strictly monotone."""
        n = len(self.grid)
        self._points = [p for p in self._points if (now - p.ts).total_seconds() < 10 * self.memory_s]
        has_plant = any(not p.lab for p in self._points)
        cols = n + (1 if has_plant else 0)  # grid values, then the plant offset
        rows: list[np.ndarray] = []
        rhs: list[float] = []
        wts: list[float] = []
        for k, v in enumerate(self._prior_values):
            r = np.zeros(cols)
            r[k] = 1.0
            rows.append(r)
            rhs.append(v)
            wts.append(self.prior_weight)
        for p in self._points:
            decay = math.exp(-max((now - p.ts).total_seconds(), 0.0) / self.memory_s)
            r = np.zeros(cols)
            i, frac = self._locate(p.ph)
            r[i] += 1.0 - frac  # linear interpolation between grid points
            if frac > 0.0:
                r[i + 1] += frac
            if not p.lab:
                r[n] = 1.0  # base per litre of influent = curve + offset
            rows.append(r)
            rhs.append(p.base)
            wts.append((self.lab_weight if p.lab else 1.0) * decay)
        sw = np.sqrt(np.array(wts))
        a = np.array(rows) * sw[:, None]
        b = np.array(rhs) * sw
        sol, *_ = np.linalg.lstsq(a, b, rcond=None)
        values = [float(x) for x in sol[:n]]
        self.plant_offset = float(sol[n]) if has_plant else 0.0
        weight_at = self._support(now)
        fitted = isotonic(values, weight_at)
        for k in range(1, n):  # strictly rising, as the compensation's inverse needs
            fitted[k] = max(fitted[k], fitted[k - 1] + self.min_step)
        return TitrationCurve(list(zip(self.grid, fitted, strict=True)))

    def _locate(self, ph: float) -> tuple[int, float]:
        g = self.grid
        if ph <= g[0]:
            return 0, 0.0
        if ph >= g[-1]:
            return len(g) - 1, 0.0
        step = g[1] - g[0]
        i = min(int((ph - g[0]) / step), len(g) - 2)
        return i, (ph - g[i]) / step

    def _support(self, now: datetime) -> list[float]:
        """Weight behind each grid value (for the isotonic pooling)."""
        w = [self.prior_weight] * len(self.grid)
        for p in self._points:
            decay = math.exp(-max((now - p.ts).total_seconds(), 0.0) / self.memory_s)
            i, frac = self._locate(p.ph)
            pw = (self.lab_weight if p.lab else 1.0) * decay
            w[i] += pw * (1.0 - frac)
            if frac > 0.0:
                w[i + 1] += pw * frac
        return w
