"""C-301 lithium sorbent column: uptake that depends on pH and on how loaded the bed already is."""

from __future__ import annotations

import math

from sim.chemistry import LI_G_MOL
from sim.params import ColumnParams


def uptake_fraction(ph: float, p: ColumnParams) -> float:
    """Share of full capacity the sorbent offers at a pH (H+ competes with Li+ below ph50)."""
    return 1.0 / (1.0 + math.pow(10.0, p.uptake_ph_slope_per_ph * (p.uptake_ph50 - ph)))


class SorbentColumn:
    """Lumped bed: removal falls as loading nears the pH-dependent capacity; outlet lags by residence."""

    __slots__ = ("capacity_mol", "loaded_mol", "outlet_mol_l", "params")

    def __init__(self, params: ColumnParams, inlet_li_mol_l: float, ph: float) -> None:
        self.params = params
        self.capacity_mol = params.capacity_kg_li * 1000.0 / LI_G_MOL
        self.loaded_mol = params.initial_loading_fraction * self.capacity_mol
        self.outlet_mol_l = inlet_li_mol_l * (1.0 - self.removal(ph))  # settled at start

    def removal(self, ph: float) -> float:
        """Fraction of the inlet Li the bed takes up now (breakthrough as loading nears capacity)."""
        p = self.params
        cap = self.capacity_mol * uptake_fraction(ph, p)
        if cap <= 0.0:
            return 0.0
        theta = min(self.loaded_mol / cap, 1.0)
        return p.max_removal_fraction * (1.0 - math.pow(theta, p.breakthrough_exponent)) * uptake_fraction(ph, p)

    def step(self, dt_s: float, flow_m3_h: float, inlet_li_mol_l: float, ph: float) -> float:
        """Advance; returns Li taken up this step (mol). Outlet is a CSTR-like lag of the bed volume."""
        eta = self.removal(ph)
        flow_l_s = flow_m3_h * 1000.0 / 3600.0
        taken = flow_l_s * inlet_li_mol_l * eta * dt_s
        self.loaded_mol += taken
        target = inlet_li_mol_l * (1.0 - eta)
        tau_s = self.params.bed_volume_m3 / max(flow_m3_h, 1e-6) * 3600.0
        self.outlet_mol_l += (target - self.outlet_mol_l) * min(dt_s / tau_s, 1.0)  # Euler: books close
        return taken

    def set_loading(self, fraction: float) -> None:
        """The bed regenerated (0) or swapped for a loaded one: the Li it holds, as a share of capacity."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"loading fraction must be within 0..1, got {fraction}")
        self.loaded_mol = fraction * self.capacity_mol

    @property
    def void_l(self) -> float:
        """Liquid held in the bed, litres (its Li is neither taken up nor yet out)."""
        return self.params.bed_volume_m3 * 1000.0

    @property
    def loading_fraction(self) -> float:
        return self.loaded_mol / self.capacity_mol
