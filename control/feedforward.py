"""Feedforward on influent flow: base dose ∝ flow × demand, so feedback only trims the residue."""

from __future__ import annotations

from control.compensation import TitrationCurve
from plantctl.config.models import FeedforwardConfig


class Feedforward:
    """Base pump % = pct_per_mol_h × flow (m³/h) × demand (mmol/L); 1 m³/h × 1 mmol/L = 1 mol/h."""

    def __init__(self, cfg: FeedforwardConfig, curve: TitrationCurve | None) -> None:
        if cfg.influent_ph_tag is not None and curve is None:
            raise ValueError("feedforward from the influent pH needs a titration curve")
        self.cfg = cfg
        self.curve = curve

    @property
    def tags(self) -> tuple[str, ...]:
        return (self.cfg.flow_tag,) + ((self.cfg.influent_ph_tag,) if self.cfg.influent_ph_tag else ())

    def demand_mmol_l(self, setpoint_ph: float, influent_ph: float | None) -> float:
        """Base per litre of influent to bring it to the setpoint (never negative: no acid feedforward)."""
        if self.cfg.demand_mmol_l is not None:
            return self.cfg.demand_mmol_l
        assert self.curve is not None and influent_ph is not None
        return max(self.curve.base(setpoint_ph) - self.curve.base(influent_ph), 0.0)

    def base_pump_pct(self, flow_m3_h: float, setpoint_ph: float, influent_ph: float | None) -> float:
        return self.cfg.pct_per_mol_h * max(flow_m3_h, 0.0) * self.demand_mmol_l(setpoint_ph, influent_ph)
