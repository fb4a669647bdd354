"""The per-step pH solves start Newton from the last steps' trend (a speed-up): same roots as a cold solve."""

from __future__ import annotations

import math

import pytest

from sim.chemistry import solve_log_h
from sim.model import PlantModel
from sim.params import InfluentParams, SimParams

_LADEN = InfluentParams(ni_mg_l=120.0, co_mg_l=60.0, mn_mg_l=80.0, cu_mg_l=5.0, fe_mg_l=10.0, al_mg_l=15.0,
                        fluoride_mg_l=40.0, phosphate_mg_l=30.0)


@pytest.mark.parametrize("params", [SimParams(), SimParams(influent=_LADEN)], ids=["default", "metal-laden"])
def test_tank_column_outlet_and_trim_ph_are_the_roots_a_cold_solve_finds(params: SimParams) -> None:
    model = PlantModel(params, seed=3)
    model.command("P-201.RUN", 1.0)
    model.command("P-401.RUN", 1.0)
    for k in range(900):
        # a dosing staircase drives the pH across the metal precipitation kinks, where a warm start is riskiest
        model.command("P-201.SP", float(10 * (k // 100)))
        model.command("P-401.SP", float(5 * (k // 100)))
        model.step(1.0)
        c = model.t101.cond_c
        tank = model.tank_invariants().as_tuple()
        assert model.t101.log_h == pytest.approx(solve_log_h(tank, c, None), abs=1e-9)
        discharge = list(tank)
        discharge[1] = model.column.outlet_mol_l
        cold = solve_log_h(tuple(discharge), c, None) - math.log10(c.gamma1)
        assert model.true_state().column_outlet_ph == pytest.approx(cold, abs=1e-9)
        trim_c = model.t401.cond_c
        trim = model.trim_invariants().as_tuple()
        assert model.t401.log_h == pytest.approx(solve_log_h(trim, trim_c, None), abs=1e-9)
