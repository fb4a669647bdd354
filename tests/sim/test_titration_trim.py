"""`python -m sim.titration`'s T-401 curves describe the water the model really sends from C-301 to T-401."""

from __future__ import annotations

import pytest

from sim.chemistry import solve_ph
from sim.column import uptake_fraction
from sim.model import PlantModel
from sim.params import ColumnParams, InfluentParams, SimParams
from sim.titration import column_outlet, column_outlet_titration, main, trim_curve


def test_the_curves_column_outlet_is_the_models_t401_inlet() -> None:
    column = ColumnParams(max_removal_fraction=0.99)
    params = SimParams(
        influent=InfluentParams(flow_amplitude_m3_h=0.0, ph_amplitude=0.0, li_amplitude_mg_l=0.0,
                                temp_amplitude_c=0.0, flow_wander_fraction=0.0, ph_wander=0.0,
                                li_wander_fraction=0.0),
        column=column, initial_tank_ph=7.0)
    model = PlantModel(params, seed=1)
    uptake = 0.99 * uptake_fraction(7.0, column)
    # the model solves the column outlet with T-101's activity coefficients (ionic strength of T-101's water),
    # the curve with the outlet water's own: a few thousandths of a pH apart
    assert model.true_state().column_outlet_ph == pytest.approx(solve_ph(column_outlet(uptake=uptake), 22.0),
                                                                abs=0.01)


def test_trim_curve_starts_at_its_own_ph_and_rises_to_12() -> None:
    curve = trim_curve()
    assert curve[0][1] == 0.0 and curve[0][0] < 3.0, "C-301's outlet is acid: the trim stage starts there"
    assert curve[-1][0] == 12.0
    doses = [b for _, b in curve]
    assert doses == sorted(doses) and len(set(doses)) == len(doses)
    # 450 mg/L Li at 99 % uptake releases 64 mmol/L of H+: to pH 7 the base is at least that
    assert dict((p, b) for p, b in curve)[7.0] == pytest.approx(450.0 * 0.99 / 6.94, rel=0.05)


def test_column_outlet_titration_falls_with_ph(capsys: pytest.CaptureFixture[str]) -> None:
    table = column_outlet_titration()
    phs = [p for p, _ in table]
    doses = [b for _, b in table]
    assert phs == sorted(phs) and doses == sorted(doses, reverse=True)
    main([])
    out = capsys.readouterr().out
    assert "trim titration_curve.points:" in out and "trim influent_titration.points" in out
