"""The influent to T-101: a daily pattern, slow random wander, and scenario overrides (steps, ramps, shocks)."""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

from sim.chemistry import (
    F_G_MOL,
    LI_G_MOL,
    METAL_G_MOL,
    NA_G_MOL,
    PO4_G_MOL,
    Invariants,
    charge_balance,
    conditions,
    ionic_and_conductivity,
    mg_l_to_mol_l,
)
from sim.params import InfluentParams

_IONIC_REFRESH_S = 30.0
# influent quantity and factor to mol/L for each invariant, in Invariants' order ("" = set by _acidify)
_TO_MOL_L: tuple[tuple[str, float], ...] = (
    ("na_mg_l", mg_l_to_mol_l(1.0, NA_G_MOL)), ("li_mg_l", mg_l_to_mol_l(1.0, LI_G_MOL)), ("", 0.0),
    ("tic_mmol_l", 1e-3), ("chloride_mmol_l", 1e-3), ("fluoride_mg_l", mg_l_to_mol_l(1.0, F_G_MOL)),
    ("phosphate_mg_l", mg_l_to_mol_l(1.0, PO4_G_MOL)),
    *((f"{m}_mg_l", mg_l_to_mol_l(1.0, METAL_G_MOL[m])) for m in ("ni", "co", "mn", "cu", "fe", "al")),
)

# Influent quantities a scenario may set (the unit is in the name, as in the scenario file).
COMPONENT_QUANTITIES: tuple[str, ...] = ("fluoride_mg_l", "phosphate_mg_l", "ni_mg_l", "co_mg_l", "mn_mg_l",
                                         "cu_mg_l", "fe_mg_l", "al_mg_l")
_COMPONENTS = operator.itemgetter(*COMPONENT_QUANTITIES)
INFLUENT_QUANTITIES: tuple[str, ...] = ("flow_m3_h", "ph", "li_mg_l", "na_mg_l", "tic_mmol_l", "chloride_mmol_l",
                                        "temp_c", *COMPONENT_QUANTITIES)


@dataclass(slots=True)
class InfluentState:
    """The influent now: flow, the composition that defines it, and its invariants."""

    flow_m3_h: float
    ph: float
    li_mg_l: float
    na_mg_l: float
    tic_mmol_l: float
    chloride_mmol_l: float
    temp_c: float
    invariants: Invariants
    fluoride_mg_l: float = 0.0  # as F
    phosphate_mg_l: float = 0.0  # as PO4
    ni_mg_l: float = 0.0
    co_mg_l: float = 0.0
    mn_mg_l: float = 0.0
    cu_mg_l: float = 0.0
    fe_mg_l: float = 0.0  # Fe(III)
    al_mg_l: float = 0.0


@dataclass(slots=True)
class _Override:
    """A scenario's hold on one quantity: ramp linearly from `start` to `target` (None = pattern)."""

    t0_s: float
    ramp_s: float
    start: float
    target: float | None


@dataclass(slots=True)
class _Shock:
    until_s: float
    values: dict[str, float]


class Influent:
    """Evaluates the influent at a simulated time; the random wander is an Ornstein–Uhlenbeck process."""

    def __init__(self, params: InfluentParams, start_time_h: float) -> None:
        self.p = params
        # the parts of the pattern that do not vary with time (params are frozen): built once, not per step
        self._fixed = {"na_mg_l": params.na_mg_l, "tic_mmol_l": params.tic_mmol_l,
                       "chloride_mmol_l": params.chloride_mmol_l,
                       **{name: getattr(params, name) for name in COMPONENT_QUANTITIES}}
        self.start_time_h = start_time_h
        self.wander = [0.0, 0.0, 0.0]  # flow, pH, Li: standard-normal OU states
        self._overrides: dict[str, _Override] = {}
        self._shocks: list[_Shock] = []
        self._ionic = 0.1  # the influent's ionic strength, carried from one evaluation to the next
        self._log_h = 2.5
        self._settle_next = False
        self._ionic_age_s = 0.0
        self._cond_key: tuple[float, float] = (math.nan, math.nan)
        self._decay = (math.nan, 0.0, 0.0)  # (dt, a, b) of the wander's last step
        self._cond = conditions()
        self.state = self._evaluate(0.0, settle=True)

    def _pattern(self, t_s: float) -> dict[str, float]:
        p = self.p
        hour = (self.start_time_h + t_s / 3600.0) % 24.0
        c = math.cos(2.0 * math.pi * (hour - p.peak_hour_h) / 24.0)  # 1 at the peak hour
        w = self.wander
        return {
            "flow_m3_h": max(p.flow_mean_m3_h + p.flow_amplitude_m3_h * c
                             + p.flow_mean_m3_h * p.flow_wander_fraction * w[0], 0.1),
            "ph": p.ph_mean - p.ph_amplitude * c + p.ph_wander * w[1],
            "li_mg_l": max(p.li_mean_mg_l + p.li_amplitude_mg_l * c
                           + p.li_mean_mg_l * p.li_wander_fraction * w[2], 0.0),
            "temp_c": p.temp_mean_c + p.temp_amplitude_c * c,
            **self._fixed,
        }

    def _evaluate(self, t_s: float, settle: bool = False) -> InfluentState:
        values = self._pattern(t_s)
        for name, ov in self._overrides.items():
            target = values[name] if ov.target is None else ov.target
            if ov.ramp_s > 0.0 and t_s < ov.t0_s + ov.ramp_s:
                frac = max(t_s - ov.t0_s, 0.0) / ov.ramp_s
                values[name] = ov.start + (target - ov.start) * frac
            else:
                values[name] = target
        for shock in self._shocks:
            values.update(shock.values)
        base = Invariants(*[values[name] * factor if name else 0.0 for name, factor in _TO_MOL_L])
        settle = settle or self._settle_next
        self._settle_next = False
        inv = self._acidify(base, values["ph"], values["temp_c"], 25 if settle else 1)
        # positional, in InfluentState's field order (COMPONENT_QUANTITIES is that order): once a step
        return InfluentState(values["flow_m3_h"], values["ph"], values["li_mg_l"], values["na_mg_l"],
                             values["tic_mmol_l"], values["chloride_mmol_l"], values["temp_c"], inv,
                             *_COMPONENTS(values))

    def _acidify(self, base: Invariants, ph: float, temp_c: float, passes: int) -> Invariants:
        """Add the sulfuric acid (or, above the water's own pH, the NaOH) that makes `base` read `ph`.

        The charge balance is linear in both at a fixed ionic strength.

        The ionic strength comes from the last evaluation (the influent changes little in a step);
        `passes` > 1 iterates it to consistency (at start and after a step change).
        """
        inv = base
        for _ in range(passes):
            # conditions() sees the temperature only to 0.01 K and the ionic strength is refreshed every
            # _IONIC_REFRESH_S: most steps reuse the last set (same numbers, not an approximation)
            key = (round(temp_c, 2), self._ionic)
            if key != self._cond_key:
                self._cond, self._cond_key = conditions(temp_c, self._ionic), key
            c = self._cond
            log_h = ph + math.log10(c.gamma1)
            h = math.pow(10.0, -log_h)
            excess, _ = charge_balance(h, base, c)
            per_sulfate = (h + 2.0 * c.ks) / (h + c.ks)
            sulfate = max(excess / per_sulfate, 0.0)
            # more alkaline than the water is by itself (an alkaline spill upstream): the rest is NaOH
            alkali = max(-excess, 0.0)
            # built field by field: NamedTuple._replace costs more than the charge balance does
            inv = Invariants(base[0] + alkali, base[1], sulfate, *base[3:])
            tot = inv
            if passes == 1 and self._ionic_age_s < _IONIC_REFRESH_S:
                break  # the influent's ionic strength drifts slowly: refreshed every _IONIC_REFRESH_S
            self._ionic_age_s = 0.0
            ionic, _kappa = ionic_and_conductivity(tot, log_h, c)
            self._log_h = log_h
            converged = abs(ionic - self._ionic) < 1e-9 * ionic
            self._ionic = ionic
            if converged:
                break
        return inv

    def step(self, t_s: float, dt_s: float, noise: tuple[float, float, float]) -> InfluentState:
        """Advance the wander by dt_s with standard-normal draws, then evaluate at t_s (end of step)."""
        if dt_s != self._decay[0]:  # the OU decay for this dt (steps nearly always repeat it)
            a = math.exp(-dt_s / self.p.wander_time_constant_s)
            self._decay = (dt_s, a, math.sqrt(1.0 - a * a))
        _dt, a, b = self._decay
        self.wander = [a * w + b * n for w, n in zip(self.wander, noise, strict=True)]
        self._ionic_age_s += dt_s
        settle = False
        if self._shocks:
            live = [s for s in self._shocks if s.until_s > t_s]
            settle = len(live) != len(self._shocks)  # a slug just ended: a step change
            self._shocks = live
        self.state = self._evaluate(t_s, settle=settle)
        return self.state

    # --- scenario hooks ---------------------------------------------------------------------

    def set_quantity(self, t_s: float, name: str, target: float | None, ramp_s: float) -> None:
        """Hold `name` at `target` from t_s (ramping over ramp_s); target None returns to the pattern."""
        current = getattr(self.state, name)
        self._overrides[name] = _Override(t_s, ramp_s, float(current), target)
        self._settle_next = True

    def shock(self, t_s: float, values: dict[str, float], duration_s: float) -> None:
        """Replace some quantities for duration_s (a slug from the upstream plant)."""
        self._shocks.append(_Shock(t_s + duration_s, dict(values)))
        self.state = self._evaluate(t_s, settle=True)
