"""Chemistry a process engineer checks: reference pH points, titration shape, Kohlrausch conductivity."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.chemistry import (
    LI_G_MOL,
    NA_G_MOL,
    Invariants,
    base_for_ph,
    carbonate_pks,
    conductivity_ms_cm,
    mg_l_to_mol_l,
    pkw,
    solve_ph,
    sulfate_for_ph,
)


@pytest.mark.parametrize(
    ("water", "expected_ph"),
    [
        (Invariants(chloride=0.01), 2.00),  # 0.01 M HCl
        (Invariants(na=0.001), 11.00),  # 0.001 M NaOH
        (Invariants(na=0.001, carbonate=0.001), 8.3),  # 1 mM NaHCO3: (pKa1 + pKa2) / 2 = 8.34
        (Invariants(), 7.00),  # pure water at 25 degC
        (Invariants(na=0.02, sulfate=0.01), 7.15),  # 0.01 M Na2SO4: SO4 2- is a weak base, pKb 12.01
    ],
)
def test_reference_points_of_an_ideal_solution(water: Invariants, expected_ph: float) -> None:
    # textbook ideal-solution values: the activity corrections switched off
    assert solve_ph(water, activities=False) == pytest.approx(expected_ph, abs=0.05)


def test_pure_water_at_50c_is_neutral_at_the_lower_pkw() -> None:
    # Literature: pKw(50 degC) = 13.26, so neutral pH is 6.63.
    assert pkw(50.0) == pytest.approx(13.26, abs=0.03)
    assert solve_ph(Invariants(), temp_c=50.0) == pytest.approx(6.63, abs=0.03)


def _residual(inv: Invariants, ph: float) -> float:
    """Charge balance written out here, independently of the solver."""
    h = math.pow(10.0, -ph)
    pk1, pk2, _ = carbonate_pks(25.0)  # the published fit the model uses (6.352, 10.329)
    ks, k1, k2 = math.pow(10.0, -1.99), math.pow(10.0, -pk1), math.pow(10.0, -pk2)
    hso4 = inv.sulfate * h / (h + ks)
    so4 = inv.sulfate - hso4
    d = h * h + k1 * h + k1 * k2
    hco3 = inv.carbonate * k1 * h / d
    co3 = inv.carbonate * k1 * k2 / d
    return h + inv.na + inv.li - (1e-14 / h + hso4 + 2 * so4 + hco3 + 2 * co3 + inv.chloride)


@settings(max_examples=200, deadline=None)
@given(
    na=st.floats(0, 0.5), li=st.floats(0, 0.2), s=st.floats(0, 0.3), c=st.floats(0, 0.02),
    cl=st.floats(0, 0.1), guess=st.one_of(st.none(), st.floats(0, 14)),
)
def test_solution_closes_the_charge_balance_from_any_start(
        na: float, li: float, s: float, c: float, cl: float, guess: float | None) -> None:
    inv = Invariants(na=na, li=li, sulfate=s, carbonate=c, chloride=cl)
    ph = solve_ph(inv, guess=guess, activities=False)
    scale = max(na + li + 2 * s + 2 * c + cl, 1e-7)
    assert abs(_residual(inv, ph)) < 1e-9 * scale + 1e-12
    assert ph == pytest.approx(solve_ph(inv, activities=False), abs=1e-6)  # warm start finds the same root


def _example_influent(ph: float) -> Invariants:
    """The example plant's influent (Li 450 mg/L, Na 250 mg/L, TIC 4 mM, Cl 5 mM) at a given pH."""
    na = mg_l_to_mol_l(250, NA_G_MOL)
    li = mg_l_to_mol_l(450, LI_G_MOL)
    s = sulfate_for_ph(ph, na + li, 0.004, 0.005)
    return Invariants(na=na, li=li, sulfate=s, carbonate=0.004, chloride=0.005)


def test_influent_specified_by_ph_reads_that_ph() -> None:
    for ph in (1.5, 2.0, 2.5, 3.0, 4.0):
        assert solve_ph(_example_influent(ph)) == pytest.approx(ph, abs=1e-6)


def test_titration_with_naoh_has_plateaus_where_the_pkas_are() -> None:
    water = _example_influent(1.5)
    base = np.linspace(0.0, 0.35, 70001)  # mol/L NaOH added (dilution neglected)
    ph = np.array([solve_ph(Invariants(water.na + b, water.li, water.sulfate, water.carbonate, water.chloride))
                   for b in base])
    assert np.all(np.diff(ph) > 0), "adding base must raise pH everywhere"
    assert ph[0] == pytest.approx(1.5, abs=1e-6) and ph[-1] > 11.5
    slope = np.gradient(ph, base)  # pH per mol/L: small on a buffer plateau, large between

    def slope_at(p: float) -> float:
        return float(np.interp(p, ph, slope))

    def steepest(lo: float, hi: float) -> tuple[float, float]:
        inside = (ph > lo) & (ph < hi)
        k = int(np.argmax(slope[inside]))
        return float(ph[inside][k]), float(slope[inside][k])

    acid_jump_ph, acid_jump = steepest(3.0, 6.0)
    base_jump_ph, base_jump = steepest(6.5, 10.0)
    # steep rises between the plateaus
    assert 4.5 < acid_jump_ph < 5.8
    assert 7.5 < base_jump_ph < 9.0
    # HSO4-/SO4 2- plateau around pKa 1.99: two orders of magnitude flatter than the jump after it
    assert slope_at(2.0) < acid_jump / 50
    # carbonate plateau: the flattest point between the two jumps sits at pKa1 = 6.35
    mid = (ph > acid_jump_ph) & (ph < base_jump_ph)
    flattest_ph = float(ph[mid][np.argmin(slope[mid])])
    assert flattest_ph == pytest.approx(6.35, abs=0.3)
    assert slope_at(6.35) < acid_jump / 2 and slope_at(6.35) < base_jump / 5
    # second carbonate plateau at pKa2 = 10.33
    assert slope_at(10.33) < base_jump / 5


def test_base_for_ph_is_the_inverse_of_solve_ph() -> None:
    water = _example_influent(2.5)
    for target in (4.0, 6.0, 7.5, 9.0, 11.0):
        extra = base_for_ph(target, water)
        dosed = Invariants(water.na + extra, water.li, water.sulfate, water.carbonate, water.chloride)
        assert solve_ph(dosed) == pytest.approx(target, abs=1e-6)


def test_conductivity_of_0_01_m_nacl_matches_the_measured_1_18_ms_cm() -> None:
    kappa = conductivity_ms_cm(Invariants(na=0.01, chloride=0.01), 7.0)
    assert kappa == pytest.approx(1.18, rel=0.05)
    # and the uncorrected Kohlrausch sum would be 1.264: the ionic-strength correction is doing work
    assert kappa < 0.01 * (50.1 + 76.3)


def test_conductivity_of_dilute_hcl_and_infinite_dilution_limit() -> None:
    # 1 mM HCl: measured 0.421 mS/cm (CRC Handbook); at 1 uM the limiting sum applies.
    assert conductivity_ms_cm(Invariants(chloride=0.001), solve_ph(Invariants(chloride=0.001))) == \
        pytest.approx(0.421, rel=0.05)
    kappa = conductivity_ms_cm(Invariants(na=1e-6, chloride=1e-6), 7.0)
    water = 1e-7 * (349.6 + 198.0)
    assert kappa == pytest.approx(1e-6 * (50.1 + 76.3) + water, rel=0.01)


def test_neutralising_acid_lowers_conductivity() -> None:
    # H+ (349.6) is replaced by Na+ (50.1): conductivity falls as the influent is neutralised.
    water = _example_influent(2.0)
    raw = conductivity_ms_cm(water, 2.0)
    extra = base_for_ph(7.0, water)
    neutral = Invariants(water.na + extra, water.li, water.sulfate, water.carbonate, water.chloride)
    assert conductivity_ms_cm(neutral, 7.0) < raw
    assert math.isfinite(raw) and raw > 1.0
