"""Mass balance of T-101 over a simulated day: what flowed in minus out equals what accumulated."""

from __future__ import annotations

import numpy as np
import pytest

from sim.chemistry import INVARIANT_NAMES, N_INVARIANTS
from sim.model import PlantModel
from sim.params import ChemistryParams, InfluentParams, SimParams

DT_S = 2.0
# A metal-laden, fluoride- and phosphate-bearing influent in a tank that exchanges CO2 with the air.
LADEN = SimParams(
    influent=InfluentParams(ni_mg_l=120.0, co_mg_l=60.0, mn_mg_l=80.0, cu_mg_l=5.0, fe_mg_l=10.0, al_mg_l=15.0,
                            fluoride_mg_l=40.0, phosphate_mg_l=30.0),
    chemistry=ChemistryParams(kla_co2_per_h=6.0),
)


@pytest.mark.parametrize("params", [SimParams(), LADEN], ids=["default", "metal-laden"])
def test_books_close_over_a_simulated_day_with_dosing(params: SimParams) -> None:
    model = PlantModel(params, seed=11)
    model.command("P-201.RUN", 1.0)
    model.command("P-202.RUN", 1.0)
    start = model.true_state()
    inventory0 = np.array(start.tank.as_tuple()) * start.volume_m3 * 1000.0  # mol
    flowed_in = np.zeros(N_INVARIANTS)
    flowed_out = np.zeros(N_INVARIANTS)
    water_in = water_out = 0.0
    for _ in range(int(86400 / DT_S)):
        ph = model.readings()["AIT-101"].value
        # crude proportional dosing, enough to keep both pumps busy over the day
        model.command("P-201.SP", float(np.clip((7.5 - ph) * 6.0, 0.0, 100.0)))
        model.command("P-202.SP", float(np.clip((ph - 8.0) * 20.0, 0.0, 100.0)))
        ts = model.true_state()  # fluxes over the step are those at its start (explicit Euler)
        l_in = ts.influent.flow_m3_h / 3.6 * DT_S  # litres
        flowed_in += np.array(ts.influent.invariants.as_tuple()) * l_in
        flowed_in[0] += 6.1 * ts.naoh_delivered_l_h / 3600.0 * DT_S  # NaOH, 6.1 mol/L
        flowed_in[2] += 1.0 * ts.acid_delivered_l_h / 3600.0 * DT_S  # H2SO4, 1.0 mol/L
        flowed_out += np.array(ts.tank.as_tuple()) * ts.outflow_m3_h / 3.6 * DT_S
        water_in += l_in + (ts.naoh_delivered_l_h + ts.acid_delivered_l_h) / 3600.0 * DT_S
        water_out += ts.outflow_m3_h / 3.6 * DT_S
        model.step(DT_S)
    end = model.true_state()
    accumulated = np.array(end.tank.as_tuple()) * end.volume_m3 * 1000.0 - inventory0
    carbonate = INVARIANT_NAMES.index("carbonate")
    # CO2 to air is what the carbonate books miss once overflow is counted: the model's own tally must agree
    to_air = flowed_in[carbonate] - flowed_out[carbonate] - accumulated[carbonate]
    assert end.co2_to_air_mol == pytest.approx(to_air, abs=1e-3 * flowed_in[carbonate])
    if params.chemistry.kla_co2_per_h > 0:
        assert to_air > 0.05 * flowed_in[carbonate], "an acid influent strips CO2 in an open tank"
    flowed_out[carbonate] += end.co2_to_air_mol
    water = model.mass_balance()["water"]
    assert water.in_mol == pytest.approx(water_in, rel=1e-3) and water.out_mol == pytest.approx(water_out, rel=1e-3)
    assert water.closure_error < 1e-9

    assert flowed_in[0] > 6.1 * 10.0, "caustic was dosed (more than 10 L over the day)"
    assert flowed_in[2] > 0.0, "acid was dosed"
    for k, name in enumerate(INVARIANT_NAMES):
        error = abs(flowed_in[k] - flowed_out[k] - accumulated[k])
        assert error <= 1e-3 * flowed_in[k], f"{name}: in {flowed_in[k]:.3f} out {flowed_out[k]:.3f} " \
                                             f"accumulated {accumulated[k]:.3f} mol"
        books = model.mass_balance()[name]
        assert books.in_mol == pytest.approx(flowed_in[k], rel=1e-3)
        assert books.out_mol == pytest.approx(flowed_out[k], rel=1e-3)
        assert books.closure_error < 1e-9, name

    column = model.mass_balance()["li_column"]
    assert column.in_mol == pytest.approx(flowed_out[1], rel=1e-3), "C-301 receives T-101's overflow"
    assert column.closure_error < 1e-3
    assert 0.0 < model.true_state().column_loading_fraction < 1.0


def test_books_close_when_t101_spills_over_its_brim() -> None:
    model = PlantModel(SimParams(), seed=4)
    model.influent.set_quantity(0.0, "flow_m3_h", 45.0, 0.0)  # far beyond the weir's capacity at the brim
    for _ in range(1800):
        model.step(2.0)
    ts = model.true_state()
    assert ts.volume_m3 == pytest.approx(model.params.tank.tank_volume_m3)
    level = model.readings()["LIT-101"]
    assert level.value == 100.0 and level.status.name == "UNCERTAIN"  # pinned at the top of its range
    for name, books in model.mass_balance().items():
        assert books.closure_error < 1e-9, name
