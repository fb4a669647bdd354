"""Equipment that fails like real equipment, and the chemistry a scenario can throw at T-101."""

from __future__ import annotations

import pytest

from sim.chemistry import solve_ph
from sim.model import PlantModel
from sim.params import ChemistryParams, InfluentParams, PumpParams, SimParams
from sim.pumps import DosingPump
from sim.scenario import load_scenario


def test_pump_turndown_delivers_nothing_below_its_minimum_and_slips_near_it() -> None:
    pump = DosingPump("P-201", PumpParams(capacity_l_h=100.0, reagent_mol_l=6.1, min_effective_speed_pct=3.0,
                                          low_speed_knee_pct=2.0))
    pump.set_run(1.0)
    flows = {}
    for sp in (2.0, 3.0, 4.0, 10.0, 50.0):
        pump.set_sp(sp)
        flows[sp] = pump.pumped_l_h(False)
    assert flows[2.0] == 0.0 and flows[3.0] == 0.0
    assert 0.0 < flows[4.0] < 0.5 * 4.0, "one point above the minimum the pump slips more than half"
    assert flows[50.0] == pytest.approx(50.0, rel=1e-6), "far above the knee the curve is linear"
    assert pump.speed_pct(False) == 50.0, "speed feedback is the drive's, not the flow"


def test_capacity_loss_and_wrong_reagent_from_a_scenario_reach_the_tank(tmp_path: object) -> None:
    text = """
scenario: pump-faults
duration_h: 1
events:
  - {at: 0, pump: P-201, capacity_pct: 40}
  - {at: 600, pump: P-201, capacity_pct: 100}
  - {at: 1200, pump: P-201, reagent_mol_l: 3.05}
"""
    scenario = load_scenario("pump-faults.yaml", text)
    model = PlantModel(SimParams(), seed=3)
    model.attach_scenario(scenario.player())
    model.command("P-201.RUN", 1.0)
    model.command("P-201.SP", 20.0)
    model.step(1.0)
    assert model.true_state().naoh_pumped_l_h == pytest.approx(0.4 * 250.0 * 0.2)
    assert model.readings()["P-201.SPEED"].value == 20.0
    for _ in range(700):
        model.step(1.0)
    assert model.true_state().naoh_pumped_l_h == pytest.approx(250.0 * 0.2), "recovered"
    for _ in range(500):  # to t = 1201 s: the wrong batch is on line
        model.step(1.0)
    na_before = model.mass_balance()["na"].in_mol
    inflow_na = model.influent.state.invariants.na * model.influent.state.flow_m3_h / 3.6  # mol/s
    for _ in range(600):
        model.step(1.0)
    assert model.pumps["P-201"].reagent_mol_l == 3.05
    dosed = model.mass_balance()["na"].in_mol - na_before
    # half-strength caustic: about 3.05 mol/L x 50 L/h over 600 s, plus the influent's own sodium
    assert dosed == pytest.approx(3.05 * 50.0 / 3600.0 * 600.0 + inflow_na * 600.0, rel=0.05)


def test_a_metal_slug_consumes_caustic_and_makes_sludge_and_stripping_loses_tic() -> None:
    clean = PlantModel(SimParams(), seed=2)
    laden = PlantModel(SimParams(influent=InfluentParams(ni_mg_l=300.0, mn_mg_l=200.0, co_mg_l=100.0)), seed=2)
    for model in (clean, laden):
        model.command("P-201.RUN", 1.0)
        model.command("P-201.SP", 4.0)
        for _ in range(3600):
            model.step(2.0)
    c, m = clean.true_state(), laden.true_state()
    assert m.ph < c.ph - 2.0, "the same caustic dose leaves a metal-laden tank far more acid"
    assert m.sludge_kg > 0.5 and m.sludge_out_kg > 0.5
    assert m.dissolved_metals_mg_l is not None and m.dissolved_metals_mg_l["ni"] < 30.0
    assert c.co2_to_air_mol < 0.0, "a caustic tank takes CO2 from the air"
    acid = PlantModel(SimParams(), seed=2)  # no dosing: T-101 goes acid and its CO2 leaves
    closed = PlantModel(SimParams(chemistry=ChemistryParams(kla_co2_per_h=0.0)), seed=2)
    for model in (acid, closed):
        for _ in range(1800):
            model.step(2.0)
    assert acid.true_state().co2_to_air_mol > 0.0
    assert closed.true_state().co2_to_air_mol == 0.0


def test_an_alkaline_spill_reads_its_ph_with_less_acid_and_then_with_naoh() -> None:
    model = PlantModel(SimParams(), seed=1)
    acid_before = model.influent.state.invariants.sulfate
    model.influent.shock(0.0, {"ph": 11.5}, 600.0)
    state = model.influent.state
    assert state.ph == 11.5 and state.invariants.sulfate < 0.7 * acid_before
    # a water with no Li or Na (only HCl and TIC) needs NaOH to read 11.5
    model.influent.shock(0.0, {"ph": 11.5, "li_mg_l": 0.0, "na_mg_l": 0.0}, 600.0)
    state = model.influent.state
    assert state.invariants.sulfate == 0.0 and state.invariants.na > 0.005
    assert solve_ph(state.invariants, state.temp_c) == pytest.approx(11.5, abs=1e-3)
