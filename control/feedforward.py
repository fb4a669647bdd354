"""Feedforward on influent flow and acidity: base dose ∝ flow × demand, so feedback only trims.

Two things make it match the plant rather than the nominal influent:
- the demand comes from the influent's own titration (its acidity carries its own sulfate), not
  from the tank curve's acid side;
- an adapted gain (a ratio) absorbs what no analyser sees — the influent's lithium, and with it
  its sulfate — so a persistent error scales with the load instead of staying as an integral
  offset that over-doses the moment the load drops.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from scipy.interpolate import PchipInterpolator

from control.compensation import TitrationCurve
from plantctl.config.models import FeedforwardConfig


class InfluentDemand:
    """Base (mmol/L) that brings influent of a given pH to the reference pH: monotone PCHIP, linear beyond."""

    def __init__(self, reference_ph: float, points: Sequence[tuple[float, float]]) -> None:
        ph = [float(p) for p, _ in points]
        base = [float(b) for _, b in points]
        if len(ph) < 3 or any(b <= a for a, b in itertools.pairwise(ph)) \
                or any(b >= a for a, b in itertools.pairwise(base)):
            raise ValueError("an influent titration needs ≥ 3 points, pH rising and demand falling")
        self.reference_ph = reference_ph
        self._f = PchipInterpolator(ph, base, extrapolate=False)
        df = self._f.derivative()
        self._ends = ((ph[0], base[0], float(df(ph[0]))), (ph[-1], base[-1], float(df(ph[-1]))))

    def __call__(self, influent_ph: float) -> float:
        (lo, b_lo, s_lo), (hi, b_hi, s_hi) = self._ends
        if influent_ph < lo:
            return b_lo + s_lo * (influent_ph - lo)
        if influent_ph > hi:
            return max(b_hi + s_hi * (influent_ph - hi), 0.0)
        return float(self._f(influent_ph))


class Feedforward:
    """Base pump % = pct_per_mol_h × flow (m³/h) × demand (mmol/L); 1 m³/h × 1 mmol/L = 1 mol/h."""

    def __init__(self, cfg: FeedforwardConfig, curve: TitrationCurve | None) -> None:
        if cfg.influent_ph_tag is not None and curve is None:
            raise ValueError("feedforward from the influent pH needs a titration curve")
        self.cfg = cfg
        self.curve = curve
        it = cfg.influent_titration
        self.influent = InfluentDemand(it.reference_ph, it.points) if it is not None else None

    @property
    def tags(self) -> tuple[str, ...]:
        return (self.cfg.flow_tag,) + ((self.cfg.influent_ph_tag,) if self.cfg.influent_ph_tag else ())

    def demand_mmol_l(self, setpoint_ph: float, influent_ph: float | None) -> float:
        """Base per litre of influent to bring it to the setpoint (never negative: no acid feedforward)."""
        if self.cfg.demand_mmol_l is not None:
            return self.cfg.demand_mmol_l
        assert self.curve is not None and influent_ph is not None
        if self.influent is not None:  # influent to the reference pH, then the tank curve to the setpoint
            ref = self.influent.reference_ph
            return max(self.influent(influent_ph) + self.curve.base(setpoint_ph) - self.curve.base(ref), 0.0)
        return max(self.curve.base(setpoint_ph) - self.curve.base(influent_ph), 0.0)

    def base_pump_pct(self, flow_m3_h: float, setpoint_ph: float, influent_ph: float | None) -> float:
        return self.cfg.pct_per_mol_h * max(flow_m3_h, 0.0) * self.demand_mmol_l(setpoint_ph, influent_ph)
