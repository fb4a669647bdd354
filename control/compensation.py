"""Nonlinear pH compensation: control in the space of equivalent base demand (reaction-invariant).

The process gain d(pH)/d(base) changes by orders of magnitude along the titration curve. Mapping the
pH through the effluent's titration curve x = f(pH) (mmol/L of base) gives a controlled variable in
which the tank is linear (a mass balance on base equivalents), so one set of gains fits everywhere.
Gain scheduling keeps pH as the PV and scales the gains by the curve's local slope df/dpH instead.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

import numpy as np
from scipy.interpolate import PchipInterpolator
from scipy.optimize import brentq

from plantctl.config.models import CompensationKind, TitrationCurveConfig

_MIN_SLOPE_FRACTION = 1e-3  # slope floor, as a fraction of the curve's mean slope (avoids infinite gain)


class TitrationCurve:
    """Monotone curve base(pH) through the configured points (PCHIP), linear beyond the ends."""

    def __init__(self, points: Sequence[tuple[float, float]]) -> None:
        ph = np.array([p[0] for p in points], dtype=float)
        base = np.array([p[1] for p in points], dtype=float)
        if len(ph) < 3 or np.any(np.diff(ph) <= 0) or np.any(np.diff(base) <= 0):
            raise ValueError("a titration curve needs ≥ 3 points with pH and base both strictly rising")
        self._f = PchipInterpolator(ph, base, extrapolate=False)
        self._df = self._f.derivative()
        # the same piecewise cubics evaluated in plain Python: scipy's per-call overhead is ~50 µs
        self._x = [float(v) for v in ph]
        self._coef = [tuple(float(self._f.c[m, i]) for m in range(4)) for i in range(len(ph) - 1)]
        self.ph_range = (float(ph[0]), float(ph[-1]))
        self.base_range = (float(base[0]), float(base[-1]))
        self._end_slopes = (float(self._df(ph[0])), float(self._df(ph[-1])))
        self._min_slope = _MIN_SLOPE_FRACTION * float((base[-1] - base[0]) / (ph[-1] - ph[0]))
        self.points = [(float(a), float(b)) for a, b in zip(ph, base, strict=True)]

    @classmethod
    def from_config(cls, cfg: TitrationCurveConfig) -> TitrationCurve:
        return cls(cfg.points)

    def base(self, ph: float) -> float:
        """Equivalent base demand (mmol/L) at this pH."""
        lo, hi = self.ph_range
        if ph < lo:
            return self.base_range[0] + max(self._end_slopes[0], self._min_slope) * (ph - lo)
        if ph > hi:
            return self.base_range[1] + max(self._end_slopes[1], self._min_slope) * (ph - hi)
        return self._eval(ph)

    def _eval(self, ph: float) -> float:
        i = min(max(bisect_right(self._x, ph) - 1, 0), len(self._coef) - 1)
        c3, c2, c1, c0 = self._coef[i]
        d = ph - self._x[i]
        return ((c3 * d + c2) * d + c1) * d + c0

    def ph(self, base: float) -> float:
        """Inverse: the pH that this base demand gives."""
        lo, hi = self.base_range
        if base < lo:
            return self.ph_range[0] + (base - lo) / max(self._end_slopes[0], self._min_slope)
        if base > hi:
            return self.ph_range[1] + (base - hi) / max(self._end_slopes[1], self._min_slope)
        lo_ph, hi_ph = self.ph_range
        return float(brentq(lambda p: self._eval(p) - base, lo_ph, hi_ph, xtol=1e-10))

    def slope(self, ph: float) -> float:
        """Local buffer capacity d(base)/d(pH), mmol/L per pH, floored above zero."""
        lo, hi = self.ph_range
        if ph <= lo:
            s = self._end_slopes[0]
        elif ph >= hi:
            s = self._end_slopes[1]
        else:
            s = float(self._df(ph))
        return max(s, self._min_slope)


class Compensator:
    """Maps the measured pH into the PID's controlled variable and gives a gain factor."""

    def __init__(self, kind: CompensationKind, curve: TitrationCurve | None) -> None:
        if kind is not CompensationKind.NONE and curve is None:
            raise ValueError(f"compensation {kind.value} needs a titration curve")
        self.kind = kind
        self.curve = curve

    @property
    def unit(self) -> str | None:
        """Engineering unit of the controlled variable (None: the PV's own unit)."""
        return "mmol/L" if self.kind is CompensationKind.TITRATION else None

    def to_control(self, pv: float) -> float:
        if self.kind is CompensationKind.TITRATION:
            assert self.curve is not None
            return self.curve.base(pv)
        return pv

    def gain_factor(self, pv: float) -> float:
        if self.kind is CompensationKind.GAIN_SCHEDULE:
            assert self.curve is not None
            return self.curve.slope(pv)
        return 1.0


def identify_curve(ph: Sequence[float], base_mmol_l: Sequence[float], n_points: int = 15) -> TitrationCurve:
    """Fit a monotone titration curve to plant data (steady pH against base dosed per litre of influent)."""
    p = np.asarray(ph, dtype=float)
    b = np.asarray(base_mmol_l, dtype=float)
    ok = np.isfinite(p) & np.isfinite(b)
    p, b = p[ok], b[ok]
    if len(p) < 3 or np.ptp(p) <= 0.1:
        raise ValueError("too little plant data to identify a titration curve (need a spread of pH)")
    order = np.argsort(b)
    p, b = p[order], b[order]
    # Pool-adjacent-violators: pH must not fall as base rises.
    blocks: list[list[float]] = []  # [sum_ph, count, sum_base]
    for pi, bi in zip(p, b, strict=True):
        blocks.append([float(pi), 1.0, float(bi)])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            s, c, sb = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += c
            blocks[-1][2] += sb
    mean_ph = np.array([blk[0] / blk[1] for blk in blocks])
    mean_b = np.array([blk[2] / blk[1] for blk in blocks])
    grid = np.linspace(mean_ph[0], mean_ph[-1], n_points)
    keep = np.concatenate([[True], np.diff(mean_ph) > 1e-9])
    base_on_grid = np.interp(grid, mean_ph[keep], mean_b[keep])
    pts: list[tuple[float, float]] = []
    for g, bg in zip(grid, base_on_grid, strict=True):
        if not pts or (g > pts[-1][0] and bg > pts[-1][1]):
            pts.append((float(g), float(bg)))
    return TitrationCurve(pts)
