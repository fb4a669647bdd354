"""Titration curves of the simulator's nominal influent, printed for the plant file (`python -m sim.titration`).

The plant file's curves claim to be this model's; regenerating them here keeps that claim checkable
whenever the chemistry changes (tests/control/test_feedforward.py compares them).
"""

from __future__ import annotations

import argparse

from sim.chemistry import LI_G_MOL, NA_G_MOL, Invariants, base_for_ph, mg_l_to_mol_l, solve_ph, sulfate_for_ph

TANK_PH = (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 6.5, 7.0, 7.5, 8.0, 8.5, 9.0, 9.5, 10.0,
           10.5, 11.0, 12.0)
INFLUENT_PH = (1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 6.5)


def influent_at(ph: float, li_mg_l: float = 450.0, na_mg_l: float = 250.0, tic_mmol_l: float = 4.0,
                chloride_mmol_l: float = 5.0, temp_c: float = 22.0) -> Invariants:
    """The nominal influent acidified to `ph` with its own sulfuric acid."""
    na, li = mg_l_to_mol_l(na_mg_l, NA_G_MOL), mg_l_to_mol_l(li_mg_l, LI_G_MOL)
    c_t, cl = tic_mmol_l / 1000.0, chloride_mmol_l / 1000.0
    return Invariants(na, li, sulfate_for_ph(ph, na + li, c_t, cl, temp_c), c_t, cl)


def tank_curve(influent_ph: float = 2.5, temp_c: float = 22.0) -> list[list[float]]:
    """[pH, NaOH mmol/L] of the nominal influent (negative: strong acid); what a tank of it needs to reach pH."""
    inv = influent_at(influent_ph, temp_c=temp_c)
    return [[p, round(1000.0 * base_for_ph(p, inv, temp_c), 3) + 0.0] for p in TANK_PH]


def influent_titration(reference_ph: float = 7.0, temp_c: float = 22.0) -> list[list[float]]:
    """[influent pH, NaOH mmol/L to bring it to reference_ph]: the demand a feedforward needs per litre."""
    return [[p, round(1000.0 * base_for_ph(reference_ph, influent_at(p, temp_c=temp_c), temp_c), 2)]
            for p in INFLUENT_PH]


COLUMN_LI_MG_L = (50.0, 100.0, 150.0, 200.0, 300.0, 450.0, 600.0, 750.0, 900.0, 1200.0, 1500.0)
TRIM_PH_STEP = 0.5


def column_outlet(li_mg_l: float = 450.0, uptake: float = 0.99, t101_ph: float = 7.0, influent_ph: float = 2.5,
                  temp_c: float = 22.0) -> Invariants:
    """C-301's outlet (T-401's inlet): the nominal influent neutralised in T-101 to t101_ph, then the column
    takes `uptake` of its Li and gives one H+ back for each (fewer cations: the charge balance adds the H+)."""
    inv = influent_at(influent_ph, li_mg_l=li_mg_l, temp_c=temp_c)
    inv = inv._replace(na=inv.na + base_for_ph(t101_ph, inv, temp_c))
    return inv._replace(li=inv.li * (1.0 - uptake))


def trim_curve(temp_c: float = 22.0) -> list[list[float]]:
    """[pH, NaOH mmol/L of effluent] of the nominal column outlet, from its own pH up to 12: T-401's plant."""
    inv = column_outlet(temp_c=temp_c)
    own = solve_ph(inv, temp_c)
    points = [own] + [k * TRIM_PH_STEP for k in range(1, 25) if k * TRIM_PH_STEP > own + 0.05]
    return [[round(p, 3), round(1000.0 * base_for_ph(p, inv, temp_c), 3) + 0.0] for p in points]


def column_outlet_titration(reference_ph: float = 7.0, temp_c: float = 22.0) -> list[list[float]]:
    """[column-outlet pH, NaOH mmol/L to bring it to reference_ph]: the trim loop's feedforward on AIT-302.

    The column's outlet pH is set by the Li it took up; the rows run over the influent's Li (COLUMN_LI_MG_L)
    at 99 % uptake, everything else nominal, sorted by pH."""
    rows = []
    for li in COLUMN_LI_MG_L:
        inv = column_outlet(li_mg_l=li, temp_c=temp_c)
        rows.append([round(solve_ph(inv, temp_c), 3), round(1000.0 * base_for_ph(reference_ph, inv, temp_c), 2)])
    return sorted(rows)


def main(argv: list[str] | None = None) -> None:
    """Print the curves as plant-file flow sequences: T-101's, and T-401's on C-301's outlet water."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.parse_args(argv)
    print("titration_curve.points:", tank_curve())
    print("influent_titration.points:", influent_titration())
    print("# T-401 (trim) on C-301's outlet water: nominal influent, T-101 at pH 7.0, 99 % Li uptake")
    print("trim titration_curve.points:", trim_curve())
    print("trim influent_titration.points (AIT-302 pH -> NaOH mmol/L to pH 7):", column_outlet_titration())


if __name__ == "__main__":
    main()
