"""StirredTank: one well-mixed tank (T-101 or T-401): weir outflow, inflows, reagent deliveries, its electrodes.

Both neutralisation tanks are the same physics (docs/simulator-model.md): a mole balance per invariant over a
vertical cylinder overflowing a weir (Q = c·head^1.5), NaOH and H2SO4 reaching the bulk through the dosing
lines' dead time and a first-order mixing zone, CO2 exchange with the air, a brim spill when full, the pH
solved at the end of each step, and electrodes that see the bulk a transport delay late. What flows on from
the tank (to C-301, into the outfall pipe), its temperature and its solids are the plant's business.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from sim.chemistry import (
    INVARIANT_NAMES,
    N_INVARIANTS,
    Invariants,
    base_for_ph,
    conditions,
    equilibrate,
    ionic_and_conductivity,
    solve_log_h,
)
from sim.params import ChemistryParams, TankParams
from sim.pumps import DosingPump

_NA, _S, _C = INVARIANT_NAMES.index("na"), INVARIANT_NAMES.index("sulfate"), INVARIANT_NAMES.index("carbonate")

Stream = tuple[float, Sequence[float]]  # litres this substep, mol of each invariant


@dataclass(frozen=True, slots=True)
class Balance:
    """One invariant over one unit since t = 0 (mol, or litres for water): what came in, went out, and stayed."""

    in_mol: float
    out_mol: float
    accumulated_mol: float

    @property
    def closure_error(self) -> float:
        """Relative error of in − out = accumulated (0 when the books close)."""
        scale = max(abs(self.in_mol), abs(self.out_mol), abs(self.accumulated_mol), 1e-30)
        return abs(self.in_mol - self.out_mol - self.accumulated_mol) / scale


@dataclass(frozen=True, slots=True)
class Overflow:
    """What left a tank in one substep, and the state it left from (the plant routes it onward)."""

    weir_m3_h: float  # over the weir, at the substep's start
    weir_l: float
    weir_mol: list[float]  # at the tank's concentration (no CO2 to air in it)
    spill_mol: list[float] | None  # over the brim (None: not full)
    water_out_l: float  # weir and brim together
    naoh_to_bulk_mol: float  # reached the bulk from the mixing zone (its neutralisation heat)
    moles_before: list[float]
    volume_before_m3: float


def weir_outflow_m3_h(tank: TankParams, volume_m3: float) -> float:
    """Overflow of a tank over its weir, m3/h (Q = c·head^1.5)."""
    head = volume_m3 / tank.area_m2 - tank.weir_height_m
    return tank.weir_coeff_m3_h * head**1.5 if head > 0.0 else 0.0


def dosed_to_ph(water: Sequence[float], ph: float, temp_c: float, activities: bool) -> list[float]:
    """The water with the NaOH it takes to reach `ph` (none if it is already above): a tank settled at start."""
    conc = list(water)
    conc[_NA] += max(base_for_ph(ph, Invariants(*water), temp_c, activities), 0.0)
    return conc


class StirredTank:
    """A CSTR with weir outflow, its caustic and acid dosing pumps, CO2 exchange, books and electrodes."""

    def __init__(self, params: TankParams, chemistry: ChemistryParams, kla_co2_per_h: float,
                 naoh: DosingPump, acid: DosingPump, conc: Sequence[float], flow_m3_h: float, temp_c: float) -> None:
        """Filled to the weir head that passes flow_m3_h, with water of `conc` (mol/L) at temp_c, at equilibrium."""
        self.params = params
        self.chemistry = chemistry
        self.kla_co2_per_h = kla_co2_per_h
        self.naoh, self.acid = naoh, acid
        head_m = (flow_m3_h / params.weir_coeff_m3_h) ** (2.0 / 3.0)
        self.volume_m3: float = min(params.area_m2 * (params.weir_height_m + head_m), params.tank_volume_m3)
        self.moles = [c * self.volume_m3 * 1000.0 for c in conc]
        self.moles0 = list(self.moles)
        self.volume0_m3 = self.volume_m3
        self.in_mol = [0.0] * N_INVARIANTS
        self.out_mol = [0.0] * N_INVARIANTS
        self.water_in_l = 0.0
        self.water_out_l = 0.0
        self.co2_to_air_mol = 0.0
        self.zone_mol = [0.0, 0.0]  # NaOH and H2SO4 in the dosing point's mixing zone, not yet in the bulk
        eq = equilibrate(Invariants(*conc), temp_c, activities=chemistry.activities)
        self.ph, self.log_h, self.cond_c = eq.ph, eq.log_h, eq.cond
        self.log_h_before = self.log_h  # the step before: Newton's start is extrapolated from the two
        self.ionic, self.cond = ionic_and_conductivity(tuple(conc), self.log_h, self.cond_c)
        self.electrode: deque[tuple[float, float]] = deque([(0.0, self.ph)])  # (t_s, bulk pH) in transit

    @property
    def weir_m3_h(self) -> float:
        return weir_outflow_m3_h(self.params, self.volume_m3)

    @property
    def level_pct(self) -> float:
        return self.volume_m3 / self.params.area_m2 / self.params.height_m * 100.0

    @property
    def electrode_ph(self) -> float:
        """The pH the tank's electrodes see now: the bulk's, electrode_delay_s ago."""
        return self.electrode[0][1]

    def invariants(self) -> Invariants:
        v_l = self.volume_m3 * 1000.0
        return Invariants(*(n / v_l for n in self.moles))

    def substep(self, h: float, t_s: float, interlocked: bool, feed: Stream, *others: Stream) -> Overflow:
        """One explicit-Euler substep of h s from the state at its start (t_s: the step's start, for the lines)."""
        naoh, acid = self.naoh, self.acid
        naoh.line.push(t_s, naoh.pumped_l_h(interlocked))
        naoh_l_h = naoh.line.delivered_l_h(t_s)
        acid.line.push(t_s, acid.pumped_l_h(interlocked))
        acid_l_h = acid.line.delivered_l_h(t_s)
        v = self.volume_m3
        q_out = weir_outflow_m3_h(self.params, v)
        feed_l, feed_mol = feed
        qout_l = q_out * 1000.0 / 3600.0 * h
        inflow = list(feed_mol)
        for _, mol in others:
            inflow = [a + b for a, b in zip(inflow, mol, strict=True)]
        zone = self.zone_mol
        zone[0] += naoh.reagent_mol_l * naoh_l_h / 3600.0 * h
        zone[1] += acid.reagent_mol_l * acid_l_h / 3600.0 * h
        tau_mix = self.params.mixing_time_s
        share = 1.0 - math.exp(-h / tau_mix) if tau_mix > 0.0 else 1.0  # reaching the bulk this substep
        to_na, to_s = zone[0] * share, zone[1] * share
        zone[0] -= to_na
        zone[1] -= to_s
        inflow[_NA] += to_na
        inflow[_C] += to_na * naoh.carbonate_per_na
        inflow[_S] += to_s
        v_l = v * 1000.0
        weir_mol = [n / v_l * qout_l for n in self.moles]
        outflow = list(weir_mol)
        # CO2 exchange with the air: kLa·V·([CO2(aq)] − KH·pCO2), CO2(aq) from the last solved pH.
        chem = self.chemistry
        stripped = 0.0
        if self.kla_co2_per_h > 0.0:
            c = self.cond_c
            hh = math.pow(10.0, -self.log_h)
            co2_aq = self.moles[_C] / v_l * hh * hh / (hh * hh + c.k1 * hh + c.k1 * c.k2)
            stripped = self.kla_co2_per_h / 3600.0 * h * v_l * (co2_aq - c.kh * chem.pco2_atm)
            outflow[_C] += stripped
        water_in_l = feed_l + (naoh_l_h + acid_l_h) / 3600.0 * h
        for litres, _ in others:
            water_in_l += litres
        water_out_l = qout_l
        v_new = v + (water_in_l - qout_l) / 1000.0
        moles = [n + i - o for n, i, o in zip(self.moles, inflow, outflow, strict=True)]
        v_max = self.params.tank_volume_m3
        spill_mol = None
        if v_new > v_max:  # brim-full: the excess spills at tank concentration
            spill = (v_new - v_max) / v_new
            spill_mol = [m * spill for m in moles]
            moles = [m - e for m, e in zip(moles, spill_mol, strict=True)]
            outflow = [o + e for o, e in zip(outflow, spill_mol, strict=True)]
            water_out_l += (v_new - v_max) * 1000.0
            v_new = v_max
        self.in_mol = [a + b for a, b in zip(self.in_mol, inflow, strict=True)]
        self.out_mol = [a + b for a, b in zip(self.out_mol, outflow, strict=True)]
        self.water_in_l += water_in_l
        self.water_out_l += water_out_l
        self.co2_to_air_mol += stripped
        before = self.moles
        self.moles = moles
        self.volume_m3 = v_new
        return Overflow(q_out, qout_l, weir_mol, spill_mol, water_out_l, to_na, before, v)

    def equilibrate(self, temp_c: float) -> None:
        """Solve the pH at the end of a step: activities from the last step's ionic strength."""
        v_l = self.volume_m3 * 1000.0
        tot = tuple(n / v_l for n in self.moles)
        c = conditions(temp_c, self.ionic, self.chemistry.activities)
        # Newton starts from the last two steps' trend: two charge balances a solve instead of three
        last = self.log_h
        self.log_h = solve_log_h(tot, c, 2.0 * last - self.log_h_before)
        self.log_h_before = last
        self.ph = self.log_h - math.log10(c.gamma1)
        self.cond_c = c
        self.ionic, self.cond = ionic_and_conductivity(tot, self.log_h, c)

    def sense(self, t_s: float) -> None:
        """The bulk pH now enters the sample line; the electrodes see what left the bulk electrode_delay_s ago."""
        probe = self.electrode
        probe.append((t_s, self.ph))
        delay = self.params.electrode_delay_s
        while len(probe) > 1 and probe[1][0] <= t_s - delay + 1e-9:
            probe.popleft()

    def balances(self) -> dict[str, Balance]:
        """Books per invariant since t = 0 (out includes CO2 to air) and 'water' in litres."""
        out = {name: Balance(self.in_mol[k], self.out_mol[k], self.moles[k] - self.moles0[k])
               for k, name in enumerate(INVARIANT_NAMES)}
        out["water"] = Balance(self.water_in_l, self.water_out_l, (self.volume_m3 - self.volume0_m3) * 1000.0)
        return out


__all__ = ["Balance", "Overflow", "StirredTank", "Stream", "dosed_to_ph", "weir_outflow_m3_h"]
