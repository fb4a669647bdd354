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

import itertools
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from control.compensation import TitrationCurve
from plantctl.config.models import IdentificationConfig


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


@dataclass(frozen=True, slots=True)
class BufferFit:
    """One identification of the buffering at the operating point, accepted or not, with why."""

    ts: datetime
    ph: float  # the operating point: mean pH over the window
    slope: float  # identified d(base)/d(pH), mmol/L per pH (nan when no fit could be made)
    rel_error: float  # the fit's standard error over its value
    curve_slope: float  # the slope of the curve in use at that pH
    accepted: bool
    reason: str


class BufferIdentifier:
    """The tank's buffering at its operating point from the loop's own dose and the pH's response.

    In base equivalents a stirred tank is a mass balance: V·β·dpH/dt = n(t − θ) + Q·(x_in − x), where
    β = d(base)/d(pH) is the buffering the titration curve should show, n the base dosed, Q the flow
    and x_in the influent's demand, which no analyser sees. Over `window_s`, with x − x0 = β·(pH − pH0),
    the pH's change per interval plus the known wash-out term (Q/V)·(pH − pH0)·h is regressed on the
    dose (delayed by the line's dead time, lagged by the mixing) and on the feedforward's influent
    model (the influent's demand it stands for), with an intercept: the dose's coefficient is 1/β.
    Closed-loop data are weak evidence, so a fit counts only with excitation (the dose moved), a
    small standard error, the right sign and a plausible ratio to the curve in use.
    """

    def __init__(self, cfg: IdentificationConfig, bin_s: float = 30.0) -> None:
        self.cfg = cfg
        self.bin_s = bin_s
        n_bins = int(cfg.window_s / bin_s) + 1
        self._bins: deque[tuple[datetime, float, float, float, float]] = deque(maxlen=n_bins)  # ts, pH, dose, ff, Q
        self._acc: list[tuple[float, float, float, float]] = []
        self._acc_start: datetime | None = None
        self._delay: deque[float] = deque(maxlen=max(round(cfg.dead_time_s / bin_s), 0) + 1)
        self._lagged: float | None = None
        self._lagged_ff: float | None = None
        self._next_fit: datetime | None = None
        self.last: BufferFit | None = None

    def observe(self, ts: datetime, ph: float, dose_pct: float, ff_pct: float, flow_m3_h: float,
                curve: TitrationCurve) -> BufferFit | None:
        """Feed one period (a GOOD PV, the loop computing); a fit every `every_s` once the window is full."""
        if not all(math.isfinite(v) for v in (ph, dose_pct, ff_pct, flow_m3_h)) or flow_m3_h < 0:
            return None
        if self._acc_start is None:
            self._acc_start = ts
        self._acc.append((ph, dose_pct, ff_pct, flow_m3_h))
        if (ts - self._acc_start).total_seconds() < self.bin_s - 1e-6:
            return None
        ph_m, dose_m, ff_m, q_m = (float(np.mean([a[i] for a in self._acc])) for i in range(4))
        self._acc, self._acc_start = [], None
        # the dose as the tank's bulk sees it: the line's dead time, then the mixing lag
        self._delay.append(dose_m)
        k = min(self.bin_s / self.cfg.lag_s, 1.0) if self.cfg.lag_s > 0 else 1.0
        d_in = self._delay[0]
        self._lagged = d_in if self._lagged is None else self._lagged + k * (d_in - self._lagged)
        self._lagged_ff = ff_m if self._lagged_ff is None else self._lagged_ff + k * (ff_m - self._lagged_ff)
        self._bins.append((ts, ph_m, self._lagged, self._lagged_ff, q_m))
        if self._next_fit is None:
            self._next_fit = ts + timedelta(seconds=self.cfg.window_s)
        if ts < self._next_fit:
            return None
        self._next_fit = ts + timedelta(seconds=self.cfg.every_s)
        self.last = self._fit(ts, curve)
        return self.last

    def _fit(self, ts: datetime, curve: TitrationCurve) -> BufferFit:
        cfg = self.cfg
        b = list(self._bins)
        ph = np.array([x[1] for x in b])
        dose = np.array([x[2] for x in b])
        ff = np.array([x[3] for x in b])
        q = np.array([x[4] for x in b])
        ph0 = float(np.mean(ph))
        curve_slope = curve.slope(ph0)
        h = self.bin_s
        v_l = cfg.tank_volume_m3 * 1000.0
        to_mmol_l = cfg.mol_h_per_pct * 1000.0 / 3600.0 * h / v_l  # one % for one interval, in mmol/L
        y = np.diff(ph) + (q[1:] / cfg.tank_volume_m3 / 3600.0) * (ph[1:] - ph0) * h
        x = np.column_stack([dose[1:] * to_mmol_l, ff[1:] * to_mmol_l, np.ones(len(y))])

        def fit(accepted: bool, slope: float, rel: float, why: str) -> BufferFit:
            return BufferFit(ts, ph0, slope, rel, curve_slope, accepted, why)

        span = float(np.ptp(dose))
        if span < cfg.min_dose_span_pct:
            return fit(False, math.nan, math.inf, f"the dose moved {span:.2g} % (< {cfg.min_dose_span_pct:g} %): "
                                                  "too little excitation to tell the buffering")
        coef, *_ = np.linalg.lstsq(x, y, rcond=None)
        resid = y - x @ coef
        dof = max(len(y) - x.shape[1], 1)
        cov = float(np.sum(resid ** 2)) / dof * np.linalg.pinv(x.T @ x)
        inv_beta, se = float(coef[0]), math.sqrt(max(float(cov[0, 0]), 0.0))
        if inv_beta <= 0.0:
            return fit(False, math.nan, math.inf, "the pH did not rise with the dose over the window (wrong sign): "
                                                  "no buffering can be read from it")
        slope, rel = 1.0 / inv_beta, se / inv_beta
        if rel > cfg.max_rel_error:
            return fit(False, slope, rel, f"uncertain fit (±{rel:.0%} > ±{cfg.max_rel_error:.0%})")
        ratio = slope / curve_slope
        if not cfg.ratio_low <= ratio <= cfg.ratio_high:
            return fit(False, slope, rel, f"implausible: {ratio:.2g} times the curve's buffering "
                                          f"(bounds {cfg.ratio_low:g}..{cfg.ratio_high:g})")
        return fit(True, slope, rel, f"buffering {slope:.3g} mmol/L per pH at pH {ph0:.2f} "
                                     f"(±{rel:.0%}; the curve in use says {curve_slope:.3g})")


def rebuffered(curve: TitrationCurve, ph: float, ratio: float, half_span_ph: float = 0.75) -> TitrationCurve:
    """The curve with its buffering within ±half_span_ph of `ph` multiplied by `ratio`, base at `ph` kept
    (the controlled variable does not jump there); outside the band its shape is unchanged."""
    if not (math.isfinite(ratio) and ratio > 0 and math.isfinite(ph)):
        raise ValueError(f"a buffering ratio must be a positive number, got {ratio}")
    lo, hi = ph - half_span_ph, ph + half_span_ph
    knots = [lo, ph, hi]
    pts = sorted([(p, b) for p, b in curve.points if min(abs(p - k) for k in knots) > 0.1 * half_span_ph]
                 + [(k, curve.base(k)) for k in knots])
    out = [pts[0]]
    for (p0, b0), (p1, b1) in itertools.pairwise(pts):
        inside = lo - 1e-9 <= p0 and p1 <= hi + 1e-9
        out.append((p1, out[-1][1] + (b1 - b0) * (ratio if inside else 1.0)))
    shift = curve.base(ph) - next(b for p, b in out if p == ph)
    return TitrationCurve([(p, b + shift) for p, b in out])
