"""Aqueous chemistry of the effluent: pH from the charge balance with activities, precipitation, conductivity.

The state is a set of reaction invariants (totals that no acid-base or precipitation reaction changes),
never pH. Concentrations are mol/L, temperatures degC. Equilibria use thermodynamic constants made
conditional with Davies activity coefficients; pH is -log10 a(H+), what a glass electrode reports.
Every constant and its source: docs/simulator-model.md §1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

# --- constants at 25 degC and their temperature dependence ------------------------------------------

R_KJ_MOL_K = 8.314462618e-3
T25_K = 298.15
PKW_25C = 14.00
PKA_HSO4 = 1.99  # HSO4- <=> H+ + SO4 2-
PKA1_CARBONIC = 6.352  # CO2(aq) + H2O <=> H+ + HCO3-  (Plummer & Busenberg 1982 at 25 degC)
PKA2_CARBONIC = 10.329  # HCO3- <=> H+ + CO3 2-
PKA_HF = 3.17
PKA1_PHOSPHORIC = 2.148
PKA2_PHOSPHORIC = 7.198
PKA3_PHOSPHORIC = 12.35
# Reaction enthalpies (kJ/mol) from the NBS tables of standard enthalpies of formation (Wagman et al. 1982).
DH_HSO4 = -21.93
DH_HF = -12.55
DH_H3PO4 = -7.95
DH_H2PO4 = 4.15
DH_HPO4 = 14.74

# Hydroxide solubility products at 25 degC (CRC Handbook, "Solubility product constants"): M(OH)n(s).
KSP = {"ni": 5.48e-16, "co": 5.92e-15, "mn": 2.06e-13, "cu": 2.2e-20, "fe": 2.79e-39, "al": 1.3e-33}
LOG_K_ALOH4 = -12.35  # Al(OH)3(s) + H2O <=> Al(OH)4- + H+ (amorphous Al(OH)3)
METALS: tuple[str, ...] = ("ni", "co", "mn", "cu", "fe", "al")
METAL_CHARGE = {"ni": 2, "co": 2, "mn": 2, "cu": 2, "fe": 3, "al": 3}
METAL_G_MOL = {"ni": 58.693, "co": 58.933, "mn": 54.938, "cu": 63.546, "fe": 55.845, "al": 26.982}
HYDROXIDE_G_MOL = {m: METAL_G_MOL[m] + METAL_CHARGE[m] * 17.007 for m in METALS}

LI_G_MOL = 6.94
NA_G_MOL = 22.99
SO4_G_MOL = 96.06
F_G_MOL = 18.998
PO4_G_MOL = 94.971

ATMOSPHERE_PCO2_ATM = 4.2e-4

# Limiting molar conductivities at 25 degC, S cm2/mol (per mole of ion: z x the per-equivalent value);
# CRC Handbook, "Ionic conductivity and diffusion at infinite dilution".
LAMBDA0 = {
    "H": 349.6, "OH": 198.0, "Li": 38.7, "Na": 50.1, "Cl": 76.3, "HSO4": 52.0, "SO4": 160.0,
    "HCO3": 44.5, "CO3": 138.6, "F": 55.4, "H2PO4": 36.0, "HPO4": 114.0, "PO4": 207.0,
    "ni": 99.2, "co": 110.0, "mn": 107.0, "cu": 107.2, "fe": 204.0, "al": 183.0, "AlOH4": 44.0,
}
# Onsager limiting-law coefficients for water at 25 degC (1:1 electrolyte: A = 60.2, B = 0.229),
# A split evenly between the two ions so a 1:1 salt recovers Λ = Λ0 − (A + BΛ0)·√I/(1+√I).
ONSAGER_A_PER_ION = 30.1
ONSAGER_B = 0.229

_PH_LOW, _PH_HIGH = -2.0, 16.0
_LN10 = math.log(10.0)


class Invariants(NamedTuple):
    """Totals (mol/L) that acid-base and precipitation reactions conserve: the model's chemical state."""

    na: float = 0.0
    li: float = 0.0
    sulfate: float = 0.0  # H2SO4 + HSO4- + SO4 2-
    carbonate: float = 0.0  # CO2(aq) + HCO3- + CO3 2- (total inorganic carbon)
    chloride: float = 0.0
    fluoride: float = 0.0  # HF + F-
    phosphate: float = 0.0  # H3PO4 + H2PO4- + HPO4 2- + PO4 3-
    ni: float = 0.0  # dissolved + precipitated hydroxide, each metal
    co: float = 0.0
    mn: float = 0.0
    cu: float = 0.0
    fe: float = 0.0  # Fe(III)
    al: float = 0.0

    def as_tuple(self) -> tuple[float, ...]:
        return tuple(self)


INVARIANT_NAMES: tuple[str, ...] = Invariants._fields
N_INVARIANTS = len(INVARIANT_NAMES)
_METAL_INDEX = tuple(INVARIANT_NAMES.index(m) for m in METALS)


def pkw(temp_c: float = 25.0) -> float:
    """pKw at temperature: Harned & Owen's fit, shifted so that 25 degC gives exactly 14.00."""
    t_k = temp_c + 273.15
    fit = 4470.99 / t_k - 6.0875 + 0.01706 * t_k
    fit_25 = 4470.99 / T25_K - 6.0875 + 0.01706 * T25_K
    return PKW_25C + (fit - fit_25)


def _van_t_hoff(pk25: float, dh_kj_mol: float, t_k: float) -> float:
    """pK at t_k from pK at 25 degC and a constant reaction enthalpy."""
    return pk25 + dh_kj_mol / (R_KJ_MOL_K * _LN10) * (1.0 / t_k - 1.0 / T25_K)


def carbonate_pks(temp_c: float) -> tuple[float, float, float]:
    """pK1, pK2 of carbonic acid and -log10 KH (mol/L/atm) of CO2: Plummer & Busenberg (1982) fits."""
    t = temp_c + 273.15
    lt = math.log10(t)
    log_k1 = -356.3094 - 0.06091964 * t + 21834.37 / t + 126.8339 * lt - 1684915.0 / (t * t)
    log_k2 = -107.8871 - 0.03252849 * t + 5151.79 / t + 38.92561 * lt - 563713.9 / (t * t)
    log_kh = 108.3865 + 0.01985076 * t - 6919.53 / t - 40.45154 * lt + 669365.0 / (t * t)
    return -log_k1, -log_k2, -log_kh


def phosphate_pk2(temp_c: float) -> float:
    """pK2 of phosphoric acid: Bates & Acree (1943) fit, pK2 = 2073.0/T − 5.9884 + 0.020912·T."""
    t = temp_c + 273.15
    return 2073.0 / t - 5.9884 + 0.020912 * t


def davies_a(temp_c: float) -> float:
    """Debye–Hückel A (log10 units) from the dielectric constant of water (Malmberg & Maryott 1956)."""
    t = temp_c
    eps = 87.740 - 0.40008 * t + 9.398e-4 * t * t - 1.410e-6 * t * t * t
    return 1.82483e6 * math.sqrt(0.997) / math.pow(eps * (t + 273.15), 1.5)


class Conditions(NamedTuple):
    """Conditional constants (concentration scale) at one temperature and ionic strength."""

    temp_c: float
    ionic_strength: float
    gamma1: float
    kw: float
    ks: float
    k1: float
    k2: float
    kf: float
    p1: float
    p2: float
    p3: float
    sat2: tuple[float, float, float, float]  # Ni, Co, Mn, Cu: dissolved at saturation = sat·h²
    sat_fe: float  # Fe3+ at saturation = sat_fe·h³
    sat_al: float  # Al3+ at saturation = sat_al·h³
    sat_aloh4: float  # Al(OH)4- at saturation = sat_aloh4/h
    kh: float  # CO2 Henry constant, mol/L/atm


@lru_cache(maxsize=4096)
def _thermodynamic(temp_key_c: float) -> tuple[float, ...]:
    """Thermodynamic constants at a temperature (cached per 0.01 K: the fits are smooth)."""
    t_k = temp_key_c + 273.15
    pk1, pk2, pkh = carbonate_pks(temp_key_c)
    kw = math.pow(10.0, -pkw(temp_key_c))
    kw3 = kw * kw * kw
    return (
        davies_a(temp_key_c), kw,
        math.pow(10.0, -_van_t_hoff(PKA_HSO4, DH_HSO4, t_k)),
        math.pow(10.0, -pk1), math.pow(10.0, -pk2),
        math.pow(10.0, -_van_t_hoff(PKA_HF, DH_HF, t_k)),
        math.pow(10.0, -_van_t_hoff(PKA1_PHOSPHORIC, DH_H3PO4, t_k)),
        math.pow(10.0, -phosphate_pk2(temp_key_c)),
        math.pow(10.0, -_van_t_hoff(PKA3_PHOSPHORIC, DH_HPO4, t_k)),
        KSP["ni"] / (kw * kw), KSP["co"] / (kw * kw), KSP["mn"] / (kw * kw), KSP["cu"] / (kw * kw),
        KSP["fe"] / kw3, KSP["al"] / kw3, math.pow(10.0, LOG_K_ALOH4), math.pow(10.0, -pkh),
    )


def conditions(temp_c: float = 25.0, ionic_strength: float = 0.0, activities: bool = True) -> Conditions:
    """Conditional constants at temperature and ionic strength (activities False: ideal solution)."""
    (a_dh, kw_t, ks, k1, k2, kf, p1, p2, p3, s_ni, s_co, s_mn, s_cu, s_fe, s_al, k_aloh4,
     kh) = _thermodynamic(round(temp_c, 2))
    if activities and ionic_strength > 0.0:
        sq = math.sqrt(ionic_strength)
        g1 = math.pow(10.0, -a_dh * (sq / (1.0 + sq) - 0.3 * ionic_strength))
    else:
        g1 = 1.0
    g1s = g1 * g1
    g2 = g1s * g1s
    g3 = g2 * g2 * g1
    # K' for HA(z) <=> H+ + A(z-1): K·γ(z)/(γ1·γ(z−1)); neutral species have γ = 1.
    # a(M)·a(OH)^n = Ksp with a(OH) = Kw/(γ1·h): [M] = Ksp·γ1^n·h^n/(γM·Kw^n)
    m2 = g1s / g2
    m3 = g1s * g1 / g3
    return Conditions(temp_c, ionic_strength, g1, kw_t / g1s, ks / g2, k1 / g1s, k2 / g2, kf / g1s,
                      p1 / g1s, p2 / g2, p3 * g2 / (g1 * g3), (s_ni * m2, s_co * m2, s_mn * m2, s_cu * m2),
                      s_fe * m3, s_al * m3, k_aloh4 / g1s, kh)


def charge_balance(h: float, tot: tuple[float, ...], c: Conditions) -> tuple[float, float]:
    """Charge excess (mol/L, positive minus negative) at free [H+] = h and its derivative d/dh."""
    na, li, s_t, c_t, cl, f_t, p_t, ni, co, mn, cu, fe, al = tot
    kw, ks, k1, k2, kf = c.kw, c.ks, c.k1, c.k2, c.kf
    f = h + na + li - kw / h - cl
    df = 1.0 + kw / (h * h)
    if s_t > 0.0:
        ds = h + ks
        f -= s_t * (h + 2.0 * ks) / ds
        df += s_t * ks / (ds * ds)
    if c_t > 0.0:
        dc = h * h + k1 * h + k1 * k2
        nc = k1 * h + 2.0 * k1 * k2
        f -= c_t * nc / dc
        df -= c_t * (k1 * dc - nc * (2.0 * h + k1)) / (dc * dc)
    if f_t > 0.0:
        dfl = h + kf
        f -= f_t * kf / dfl
        df += f_t * kf / (dfl * dfl)
    if p_t > 0.0:
        p1, p2, p3 = c.p1, c.p2, c.p3
        d = ((h + p1) * h + p1 * p2) * h + p1 * p2 * p3
        n = (p1 * h + 2.0 * p1 * p2) * h + 3.0 * p1 * p2 * p3
        dd = (3.0 * h + 2.0 * p1) * h + p1 * p2
        dn = 2.0 * p1 * h + 2.0 * p1 * p2
        f -= p_t * n / d
        df -= p_t * (dn * d - n * dd) / (d * d)
    h2 = h * h
    for m_t, sat in (((ni, c.sat2[0]), (co, c.sat2[1]), (mn, c.sat2[2]), (cu, c.sat2[3]))
                     if ni > 0.0 or co > 0.0 or mn > 0.0 or cu > 0.0 else ()):  # most waters carry none
        if m_t > 0.0:
            cap = sat * h2
            if m_t < cap:
                f += 2.0 * m_t
            else:
                f += 2.0 * cap
                df += 4.0 * sat * h
    if fe > 0.0:
        cap = c.sat_fe * h2 * h
        if fe < cap:
            f += 3.0 * fe
        else:
            f += 3.0 * cap
            df += 9.0 * c.sat_fe * h2
    if al > 0.0:
        a3 = c.sat_al * h2 * h
        a4 = c.sat_aloh4 / h
        if al >= a3 + a4:  # saturated with Al(OH)3
            f += 3.0 * a3 - a4
            df += 9.0 * c.sat_al * h2 + c.sat_aloh4 / h2
        else:  # all dissolved, split between Al3+ and Al(OH)4-
            a, b = c.sat_al, c.sat_aloh4
            h4 = h2 * h2
            den = a * h4 + b
            frac3 = a * h4 / den
            f += al * (4.0 * frac3 - 1.0)
            df += al * 16.0 * a * b * h2 * h / (den * den)
    return f, df


def solve_log_h(tot: tuple[float, ...], c: Conditions, guess_ph: float | None = None) -> float:
    """-log10 of free [H+] closing the charge balance: safeguarded Newton on log[H+] within a bracket.

    f falls monotonically with -log h (precipitation only adds kinks), so the bracket [−2, 16]
    always holds the root; a warm start from the last step usually converges in 2–3 Newton steps.
    """
    lo, hi = _PH_LOW, _PH_HIGH
    p = guess_ph if guess_ph is not None and lo < guess_ph < hi else 7.0
    for _ in range(100):
        h = math.pow(10.0, -p)
        f, dfdh = charge_balance(h, tot, c)
        if f > 0.0:
            lo = p
        elif f < 0.0:
            hi = p
        else:
            return p
        dfdp = -dfdh * _LN10 * h
        if dfdp < 0.0:
            step = f / dfdp
            if abs(step) < 1e-10:  # converged (checked before the bracket: p may sit on its edge)
                return p - step
            new = p - step
            if not lo < new < hi:
                new = 0.5 * (lo + hi)
        else:
            new = 0.5 * (lo + hi)
        if hi - lo < 1e-10:
            return new
        p = new
    return p


class Speciation(NamedTuple):
    """Free ion concentrations (mol/L) at equilibrium, the ionic strength they make, and the solids."""

    h: float
    oh: float
    hso4: float
    so4: float
    co2: float
    hco3: float
    co3: float
    hf: float
    f: float
    h2po4: float
    hpo4: float
    po4: float
    dissolved: dict[str, float]  # metal -> dissolved total (Al3+ + Al(OH)4- for Al)
    aloh4: float
    ionic_strength: float


def speciate_log_h(tot: tuple[float, ...], log_h_neg: float, c: Conditions) -> Speciation:
    """Split the invariants into the species present at free [H+] = 10^-log_h_neg."""
    na, li, s_t, c_t, cl, f_t, p_t, ni, co, mn, cu, fe, al = tot
    h = math.pow(10.0, -log_h_neg)
    h2 = h * h
    oh = c.kw / h
    ds = h + c.ks
    dc = h2 + c.k1 * h + c.k1 * c.k2
    p1, p2, p3 = c.p1, c.p2, c.p3
    dp = ((h + p1) * h + p1 * p2) * h + p1 * p2 * p3
    dissolved = {
        "ni": min(ni, c.sat2[0] * h2), "co": min(co, c.sat2[1] * h2), "mn": min(mn, c.sat2[2] * h2),
        "cu": min(cu, c.sat2[3] * h2), "fe": min(fe, c.sat_fe * h2 * h),
    }
    a3 = c.sat_al * h2 * h
    a4 = c.sat_aloh4 / h
    if al >= a3 + a4:
        al3, aloh4 = a3, a4
    else:
        frac3 = c.sat_al * h2 * h2 / (c.sat_al * h2 * h2 + c.sat_aloh4)
        al3, aloh4 = al * frac3, al * (1.0 - frac3)
    dissolved["al"] = al3 + aloh4
    hso4, so4 = s_t * h / ds, s_t * c.ks / ds
    hco3, co3 = c_t * c.k1 * h / dc, c_t * c.k1 * c.k2 / dc
    fl = f_t * c.kf / (h + c.kf)
    h2po4 = p_t * p1 * h2 / dp
    hpo4 = p_t * p1 * p2 * h / dp
    po4 = p_t * p1 * p2 * p3 / dp
    ionic = 0.5 * (h + oh + na + li + cl + hso4 + 4.0 * so4 + hco3 + 4.0 * co3 + fl + h2po4 + 4.0 * hpo4
                   + 9.0 * po4 + 4.0 * (dissolved["ni"] + dissolved["co"] + dissolved["mn"] + dissolved["cu"])
                   + 9.0 * (dissolved["fe"] + al3) + aloh4)
    return Speciation(h=h, oh=oh, hso4=hso4, so4=so4, co2=c_t * h2 / dc, hco3=hco3, co3=co3,
                      hf=f_t - fl, f=fl, h2po4=h2po4, hpo4=hpo4, po4=po4, dissolved=dissolved,
                      aloh4=aloh4, ionic_strength=ionic)


@dataclass(frozen=True, slots=True)
class Equilibrium:
    """A solved water: pH as the electrode sees it, the conditions used, and the speciation."""

    ph: float
    log_h: float  # -log10 of the free H+ concentration
    cond: Conditions
    species: Speciation


def equilibrate(inv: Invariants | tuple[float, ...], temp_c: float = 25.0, guess: float | None = None,
                activities: bool = True, ionic_strength: float | None = None,
                iterations: int = 30) -> Equilibrium:
    """Solve pH with the ionic strength made self-consistent (fixed point; `ionic_strength` pins it)."""
    tot = tuple(inv)
    i_est = ionic_strength if ionic_strength is not None else _ionic_guess(tot)
    log_h = guess
    eq: Equilibrium | None = None
    for _ in range(iterations if ionic_strength is None and activities else 1):
        c = conditions(temp_c, i_est, activities)
        log_h = solve_log_h(tot, c, None if log_h is None else log_h)
        sp = speciate_log_h(tot, log_h, c)
        eq = Equilibrium(log_h - math.log10(c.gamma1), log_h, c, sp)
        if abs(sp.ionic_strength - i_est) <= 1e-10 * max(i_est, 1e-12):
            break
        i_est = sp.ionic_strength
    assert eq is not None
    return eq


def _ionic_guess(tot: tuple[float, ...]) -> float:
    """A first ionic strength from the totals (as if fully dissociated)."""
    na, li, s_t, c_t, cl, f_t, p_t, ni, co, mn, cu, fe, al = tot
    return 0.5 * (na + li + cl + 6.0 * s_t + c_t + f_t + p_t) + 3.0 * (ni + co + mn + cu) + 6.0 * (fe + al)


def solve_ph(inv: Invariants, temp_c: float = 25.0, guess: float | None = None, activities: bool = True) -> float:
    """pH (-log10 a(H+)) at which the charge balance closes, activities self-consistent."""
    return equilibrate(inv, temp_c, guess=None if guess is None else guess, activities=activities).ph


def conductivity_from_species(tot: tuple[float, ...], sp: Speciation) -> float:
    """Conductivity at 25 degC reference (mS/cm): Kohlrausch sum with an Onsager √I correction."""
    sq = math.sqrt(sp.ionic_strength)
    g = sq / (1.0 + sq)
    d = sp.dissolved
    conc = (
        ("H", sp.h, 1), ("OH", sp.oh, 1), ("Li", tot[1], 1), ("Na", tot[0], 1), ("Cl", tot[4], 1),
        ("HSO4", sp.hso4, 1), ("SO4", sp.so4, 2), ("HCO3", sp.hco3, 1), ("CO3", sp.co3, 2), ("F", sp.f, 1),
        ("H2PO4", sp.h2po4, 1), ("HPO4", sp.hpo4, 2), ("PO4", sp.po4, 3), ("ni", d["ni"], 2),
        ("co", d["co"], 2), ("mn", d["mn"], 2), ("cu", d["cu"], 2), ("fe", d["fe"], 3),
        ("al", d["al"] - sp.aloh4, 3), ("AlOH4", sp.aloh4, 1),
    )
    kappa = 0.0
    for ion, cm, _z in conc:
        lam0, k = _L[ion]
        lam = lam0 - k * g
        if cm > 0.0 and lam > 0.0:
            kappa += lam * cm
    # S cm2/mol x mol/L = 1e-3 S/cm = 1 mS/cm
    return kappa


def _onsager(ion: str, z: int) -> tuple[float, float]:
    lam0 = LAMBDA0[ion]
    return lam0, ONSAGER_A_PER_ION * z * z + ONSAGER_B * z * lam0


_L = {ion: _onsager(ion, z) for ion, z in (
    ("H", 1), ("OH", 1), ("Li", 1), ("Na", 1), ("Cl", 1), ("HSO4", 1), ("SO4", 2), ("HCO3", 1), ("CO3", 2),
    ("F", 1), ("H2PO4", 1), ("HPO4", 2), ("PO4", 3), ("ni", 2), ("co", 2), ("mn", 2), ("cu", 2), ("fe", 3),
    ("al", 3), ("AlOH4", 1))}


def ionic_and_conductivity(tot: tuple[float, ...], log_h_neg: float, c: Conditions) -> tuple[float, float]:
    """Ionic strength (mol/L) and conductivity (mS/cm) of a solved water: the model's per-step hot path.

    The same sums as speciate_log_h + conductivity_from_species, fused (no objects per step); the ions
    are summed in one fixed order, each with its (λ°, Onsager slope) pair looked up once at import.
    """
    na, li, s_t, c_t, cl, f_t, p_t, ni, co, mn, cu, fe, al = tot
    h = math.pow(10.0, -log_h_neg)
    oh = c.kw / h
    ds = h + c.ks
    hso4, so4 = s_t * h / ds, s_t * c.ks / ds
    conc = [h, oh, na, li, cl, hso4, so4]
    pairs = _L_BASE
    ionic = h + oh + na + li + cl + hso4 + 4.0 * so4
    if c_t > 0.0:
        dc = h * h + c.k1 * h + c.k1 * c.k2
        hco3, co3 = c_t * c.k1 * h / dc, c_t * c.k1 * c.k2 / dc
        conc += (hco3, co3)
        pairs = pairs + _L_CARBONATE
        ionic += hco3 + 4.0 * co3
    if f_t > 0.0:
        fl = f_t * c.kf / (h + c.kf)
        conc.append(fl)
        pairs = pairs + _L_FLUORIDE
        ionic += fl
    if p_t > 0.0 or ni > 0.0 or co > 0.0 or mn > 0.0 or cu > 0.0 or fe > 0.0 or al > 0.0:
        sp = speciate_log_h(tot, log_h_neg, c)
        d = sp.dissolved
        al3 = d["al"] - sp.aloh4
        conc += (sp.h2po4, sp.hpo4, sp.po4, d["ni"], d["co"], d["mn"], d["cu"], d["fe"], al3, sp.aloh4)
        pairs = pairs + _L_REST
        ionic += (sp.h2po4 + 4.0 * sp.hpo4 + 9.0 * sp.po4 + 4.0 * (d["ni"] + d["co"] + d["mn"] + d["cu"])
                  + 9.0 * (d["fe"] + al3) + sp.aloh4)
    ionic *= 0.5
    sq = math.sqrt(ionic)
    g = sq / (1.0 + sq)
    kappa = 0.0
    for (lam0, k), cm in zip(pairs, conc, strict=True):
        lam = lam0 - k * g
        if lam > 0.0:
            kappa += lam * cm
    return ionic, kappa


_L_BASE = tuple(_L[ion] for ion in ("H", "OH", "Na", "Li", "Cl", "HSO4", "SO4"))
_L_CARBONATE = (_L["HCO3"], _L["CO3"])
_L_FLUORIDE = (_L["F"],)
_L_REST = tuple(_L[ion] for ion in ("H2PO4", "HPO4", "PO4", "ni", "co", "mn", "cu", "fe", "al", "AlOH4"))


def conductivity_ms_cm(inv: Invariants, ph: float | None = None, temp_c: float = 25.0) -> float:
    """Conductivity (mS/cm, 25 degC reference) of a water; `ph` is ignored: the water is solved."""
    eq = equilibrate(inv, temp_c)
    return conductivity_from_species(inv.as_tuple(), eq.species)


def _charge_at_ph(ph: float, inv: Invariants, temp_c: float, activities: bool) -> tuple[float, float]:
    """Charge excess at an electrode pH with the ionic strength made consistent; and the sulfate's charge/mol."""
    tot = list(inv.as_tuple())
    i_est = _ionic_guess(tuple(tot))
    f = 0.0
    per_sulfate = 2.0
    for _ in range(30):
        c = conditions(temp_c, i_est, activities)
        log_h = ph + math.log10(c.gamma1)
        h = math.pow(10.0, -log_h)
        f, _d = charge_balance(h, tuple(tot), c)
        per_sulfate = (h + 2.0 * c.ks) / (h + c.ks)
        sp = speciate_log_h(tuple(tot), log_h, c)
        if abs(sp.ionic_strength - i_est) <= 1e-12 * max(i_est, 1e-12):
            break
        i_est = sp.ionic_strength
    return f, per_sulfate


def acid_for_ph(ph: float, inv: Invariants, temp_c: float = 25.0, activities: bool = True) -> float:
    """Total sulfate (mol/L, as H2SO4) to add to `inv` so it reads `ph`; 0 if none would do (no negative acid).

    The charge balance is linear in sulfate at a fixed pH and ionic strength; the ionic strength is
    iterated to consistency.
    """
    s = 0.0
    for _ in range(30):
        f, per = _charge_at_ph(ph, _with(inv, sulfate=inv.sulfate + s), temp_c, activities)
        s_new = max(s + f / per, 0.0)
        if abs(s_new - s) <= 1e-13 + 1e-11 * s:
            return s_new
        s = s_new
    return s


def base_for_ph(ph: float, inv: Invariants, temp_c: float = 25.0, activities: bool = True) -> float:
    """Extra Na (mol/L, as NaOH) that brings water of invariants `inv` to `ph`; may be negative."""
    b = 0.0
    for _ in range(40):
        f, _per = _charge_at_ph(ph, _with(inv, na=inv.na + b), temp_c, activities)
        b_new = b - f
        if abs(b_new - b) <= 1e-13 + 1e-11 * abs(b):
            return b_new
        b = b_new
    return b


def sulfate_for_ph(ph: float, cations: float, c_t: float, cl: float, temp_c: float = 25.0) -> float:
    """Total sulfate (mol/L) that makes a water of the given cations (as Na)/carbonate/chloride read `ph`."""
    return acid_for_ph(ph, Invariants(na=cations, carbonate=c_t, chloride=cl), temp_c)


def _with(inv: Invariants, **changes: float) -> Invariants:
    return inv._replace(**changes)


def mg_l_to_mol_l(mg_l: float, g_mol: float) -> float:
    return mg_l / 1000.0 / g_mol


def mol_l_to_mg_l(mol_l: float, g_mol: float) -> float:
    return mol_l * g_mol * 1000.0
