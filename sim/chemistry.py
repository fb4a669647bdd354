"""Aqueous chemistry of the effluent: pH from the charge balance and conductivity by Kohlrausch.

The state is a set of reaction invariants (totals that no acid-base reaction changes), never pH.
All concentrations are mol/L; temperatures are degC. Equilibrium constants are concentration
constants (no activity correction), as documented in docs/simulator-model.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.optimize import brentq

PKW_25C = 14.00
PKA_HSO4 = 1.99  # HSO4- <=> H+ + SO4 2-
PKA1_CARBONIC = 6.35  # CO2(aq) + H2O <=> H+ + HCO3-
PKA2_CARBONIC = 10.33  # HCO3- <=> H+ + CO3 2-

LI_G_MOL = 6.94
NA_G_MOL = 22.99
SO4_G_MOL = 96.06

# Limiting molar conductivities at 25 degC, S cm2/mol (SO4 2- per mole of SO4, i.e. 2 x 80).
LAMBDA0 = {
    "H": 349.6, "OH": 198.0, "Li": 38.7, "Na": 50.1, "Cl": 76.3,
    "HSO4": 52.0, "SO4": 160.0, "HCO3": 44.5, "CO3": 138.6,
}
CHARGE = {"H": 1, "OH": 1, "Li": 1, "Na": 1, "Cl": 1, "HSO4": 1, "SO4": 2, "HCO3": 1, "CO3": 2}
# Onsager limiting-law coefficients for water at 25 degC (1:1 electrolyte: A = 60.2, B = 0.229),
# A split evenly between the two ions so a 1:1 salt recovers Λ = Λ0 − (A + BΛ0)·√I/(1+√I).
ONSAGER_A_PER_ION = 30.1
ONSAGER_B = 0.229

_PH_LOW, _PH_HIGH = -2.0, 16.0


@dataclass(frozen=True, slots=True)
class Invariants:
    """Totals (mol/L) that acid-base reactions conserve: the model's chemical state."""

    na: float = 0.0
    li: float = 0.0
    sulfate: float = 0.0  # H2SO4 + HSO4- + SO4 2-
    carbonate: float = 0.0  # CO2(aq) + HCO3- + CO3 2- (total inorganic carbon)
    chloride: float = 0.0

    def as_tuple(self) -> tuple[float, float, float, float, float]:
        return (self.na, self.li, self.sulfate, self.carbonate, self.chloride)


INVARIANT_NAMES: tuple[str, ...] = ("na", "li", "sulfate", "carbonate", "chloride")


def pkw(temp_c: float = 25.0) -> float:
    """pKw at temperature: Harned & Owen's fit, shifted so that 25 degC gives exactly 14.00."""
    t_k = temp_c + 273.15
    fit = 4470.99 / t_k - 6.0875 + 0.01706 * t_k
    fit_25 = 4470.99 / 298.15 - 6.0875 + 0.01706 * 298.15
    return PKW_25C + (fit - fit_25)


_KS = math.pow(10.0, -PKA_HSO4)
_K1 = math.pow(10.0, -PKA1_CARBONIC)
_K2 = math.pow(10.0, -PKA2_CARBONIC)
_LN10 = math.log(10.0)


def _balance(ph: float, cations: float, s_t: float, c_t: float, cl: float, kw: float) -> tuple[float, float]:
    """Charge excess (positive minus negative, mol/L) at a pH and its derivative with respect to pH."""
    h = math.pow(10.0, -ph)
    oh = kw / h
    ds = h + _KS
    s_charge = s_t * (h + 2.0 * _KS) / ds  # HSO4- + 2 SO4 2-
    dc = h * h + _K1 * h + _K1 * _K2
    c_charge = c_t * (_K1 * h + 2.0 * _K1 * _K2) / dc  # HCO3- + 2 CO3 2-
    f = h + cations - oh - s_charge - c_charge - cl
    # d/dh of each term, then dh/dpH = -ln10 * h
    ds_dh = s_t * (ds - (h + 2.0 * _KS)) / (ds * ds)  # = -s_t*Ks/ds^2
    dc_dh = c_t * (_K1 * dc - (_K1 * h + 2.0 * _K1 * _K2) * (2.0 * h + _K1)) / (dc * dc)
    df_dh = 1.0 + kw / (h * h) - ds_dh - dc_dh
    return f, df_dh * (-_LN10 * h)


def solve_ph(inv: Invariants, temp_c: float = 25.0, guess: float | None = None) -> float:
    """pH at which the charge balance closes; Newton from `guess` with a Brent fallback."""
    return solve_ph_raw(inv.na + inv.li, inv.sulfate, inv.carbonate, inv.chloride, temp_c, guess)


def solve_ph_raw(
    cations: float, s_t: float, c_t: float, cl: float, temp_c: float = 25.0, guess: float | None = None
) -> float:
    """solve_ph on bare numbers (hot path of the model: no object per step)."""
    kw = math.pow(10.0, -pkw(temp_c)) if temp_c != 25.0 else math.pow(10.0, -PKW_25C)
    if guess is not None and _PH_LOW < guess < _PH_HIGH:
        ph = guess
        for _ in range(8):
            f, df = _balance(ph, cations, s_t, c_t, cl, kw)
            if df >= 0.0:
                break  # cannot happen for a physical state: f falls with pH; fall back
            step = f / df
            if step > 1.0:
                step = 1.0
            elif step < -1.0:
                step = -1.0
            ph -= step
            if abs(step) < 1e-7:
                if _PH_LOW < ph < _PH_HIGH:
                    return ph
                break
    return float(brentq(lambda p: _balance(p, cations, s_t, c_t, cl, kw)[0], _PH_LOW, _PH_HIGH,
                        xtol=1e-9))


@dataclass(frozen=True, slots=True)
class Speciation:
    """Free ion concentrations (mol/L) at equilibrium."""

    h: float
    oh: float
    hso4: float
    so4: float
    hco3: float
    co3: float


def speciate(inv: Invariants, ph: float, temp_c: float = 25.0) -> Speciation:
    """Split the invariants into the ions present at a given pH."""
    h = math.pow(10.0, -ph)
    kw = math.pow(10.0, -pkw(temp_c))
    ds = h + _KS
    dc = h * h + _K1 * h + _K1 * _K2
    return Speciation(
        h=h, oh=kw / h,
        hso4=inv.sulfate * h / ds, so4=inv.sulfate * _KS / ds,
        hco3=inv.carbonate * _K1 * h / dc, co3=inv.carbonate * _K1 * _K2 / dc,
    )


def conductivity_ms_cm(inv: Invariants, ph: float, temp_c: float = 25.0) -> float:
    """Conductivity at 25 degC reference (mS/cm): Kohlrausch sum with an Onsager √I correction."""
    sp = speciate(inv, ph, temp_c)
    conc = {
        "H": sp.h, "OH": sp.oh, "Li": inv.li, "Na": inv.na, "Cl": inv.chloride,
        "HSO4": sp.hso4, "SO4": sp.so4, "HCO3": sp.hco3, "CO3": sp.co3,
    }
    ionic_strength = 0.5 * sum(c * CHARGE[k] ** 2 for k, c in conc.items())
    sq = math.sqrt(ionic_strength)
    g = sq / (1.0 + sq)
    kappa = 0.0
    for ion, c in conc.items():
        z = CHARGE[ion]
        lam0 = LAMBDA0[ion]
        lam = lam0 - (ONSAGER_A_PER_ION * z * z + ONSAGER_B * z * lam0) * g
        kappa += max(lam, 0.0) * c
    # S cm2/mol x mol/L = S cm2/mol x 1e-3 mol/cm3 = 1e-3 S/cm = 1 mS/cm
    return kappa


def sulfate_for_ph(ph: float, cations: float, c_t: float, cl: float, temp_c: float = 25.0) -> float:
    """Total sulfate (mol/L) that makes a water of the given cations/carbonate/chloride read `ph`.

    The charge balance is linear in total sulfate, so an influent specified by its pH is exact.
    Returns 0 when even no sulfate leaves the water more acidic than `ph` would need (no negative acid).
    """
    h = math.pow(10.0, -ph)
    kw = math.pow(10.0, -pkw(temp_c))
    dc = h * h + _K1 * h + _K1 * _K2
    c_charge = c_t * (_K1 * h + 2.0 * _K1 * _K2) / dc
    per_sulfate = (h + 2.0 * _KS) / (h + _KS)
    return max((h + cations - kw / h - c_charge - cl) / per_sulfate, 0.0)


def mg_l_to_mol_l(mg_l: float, g_mol: float) -> float:
    return mg_l / 1000.0 / g_mol


def mol_l_to_mg_l(mol_l: float, g_mol: float) -> float:
    return mol_l * g_mol * 1000.0


def base_for_ph(ph: float, inv: Invariants, temp_c: float = 25.0) -> float:
    """Extra Na (mol/L, as NaOH) that brings water of invariants `inv` to `ph`; may be negative."""
    h = math.pow(10.0, -ph)
    kw = math.pow(10.0, -pkw(temp_c))
    ds = h + _KS
    dc = h * h + _K1 * h + _K1 * _K2
    anions = (kw / h + inv.sulfate * (h + 2.0 * _KS) / ds
              + inv.carbonate * (_K1 * h + 2.0 * _K1 * _K2) / dc + inv.chloride)
    return anions - h - inv.na - inv.li
