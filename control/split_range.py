"""Split range: one controller output (%) onto a base pump above a dead band and an acid pump below it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PumpDemand:
    """Speed setpoints (%) for the high-side (base) and low-side (acid) pumps."""

    high_pct: float
    low_pct: float


class SplitRange:
    """Output u > +band/2 runs the base pump, u < −band/2 the acid pump; inside the band neither doses."""

    def __init__(self, dead_band_pct: float = 0.0, low_side_gain: float = 1.0, pump_max_pct: float = 100.0) -> None:
        if dead_band_pct < 0 or low_side_gain <= 0:
            raise ValueError("dead band must be ≥ 0 % and low_side_gain > 0")
        self.half_band = dead_band_pct / 2.0
        self.low_side_gain = low_side_gain
        self.pump_max_pct = pump_max_pct

    def split(self, u: float) -> PumpDemand:
        high = max(u - self.half_band, 0.0)
        low = max(-u - self.half_band, 0.0) * self.low_side_gain
        return PumpDemand(min(high, self.pump_max_pct), min(low, self.pump_max_pct))

    def output_for(self, demand: PumpDemand) -> float:
        """The controller output that gives `demand` (for tracking what the pumps actually got)."""
        if demand.high_pct > 0.0:
            return demand.high_pct + self.half_band
        if demand.low_pct > 0.0:
            return -(demand.low_pct / self.low_side_gain + self.half_band)
        return 0.0

    def output_for_high(self, high_pct: float) -> float:
        """Controller output that runs the high-side pump at high_pct (feedforward in pump terms)."""
        return high_pct + self.half_band if high_pct > 0.0 else 0.0
