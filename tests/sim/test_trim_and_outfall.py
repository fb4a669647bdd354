"""The trim stage T-401, the outfall pipe, XV-410 and the holding tank T-501 with its return pump (issue 15)."""

from __future__ import annotations

import numpy as np
import pytest

from sim.chemistry import INVARIANT_NAMES
from sim.headless import run
from sim.interface import SensorStatus
from sim.model import PlantModel
from sim.params import HoldingTankParams, SimParams, ValveParams
from sim.scenario import load_scenario

DT_S = 2.0


def _clip(x: float) -> float:
    return float(np.clip(x, 0.0, 100.0))


def _both_stages(model: PlantModel) -> None:
    """Crude dosing in both tanks from measurements: proportional in T-101; in T-401 a feedforward on the Li
    the column takes up (each mol releases one H+) plus a proportional trim. Enough to keep every pump busy."""
    r = model.readings()
    model.command("P-201.SP", _clip((7.5 - r["AIT-101"].value) * 6.0))
    model.command("P-202.SP", _clip((r["AIT-101"].value - 8.0) * 20.0))
    trim_ph = float(np.median([r[t].value for t in ("AIT-401", "AIT-402", "AIT-403")]))
    released_mol_h = r["FIT-100"].value * max(r["AIT-300"].value - r["AIT-301"].value, 0.0) / 6.94
    feedforward_pct = released_mol_h / 6.1 / 250.0 * 100.0
    model.command("P-401.SP", _clip(feedforward_pct + (7.0 - trim_ph) * 3.0))
    model.command("P-402.SP", _clip((trim_ph - 8.5) * 20.0))


def _start(model: PlantModel) -> None:
    for pump in ("P-201", "P-202", "P-401", "P-402"):
        model.command(f"{pump}.RUN", 1.0)


def test_books_of_every_unit_close_over_a_day_with_diversion_toggling_and_return() -> None:
    # a small holding tank so that it also fills and overflows during the day
    model = PlantModel(SimParams(holding_tank=HoldingTankParams(volume_m3=4.0)), seed=5)
    _start(model)
    start = model.mass_balance()
    trim_water_in = hold_in = hold_out = diverted = 0.0
    saw = {"divert": 0, "overflow": 0, "return": 0}
    for k in range(int(86400 / DT_S)):
        _both_stages(model)
        hour = k * DT_S / 3600.0
        # divert 20 min of every 2 h, return at half speed for the hour after
        model.command("XV-410.CMD", 1.0 if hour % 2.0 < 1.0 / 3.0 else 0.0)
        model.command("P-501.RUN", 1.0 if 1.0 <= hour % 2.0 < 2.0 else 0.0)
        model.command("P-501.SP", 50.0)
        ts = model.true_state()  # the outfall's rates are those the next step splits (a forward sum)
        diverted += ts.diverted_m3_h / 3.6 * DT_S
        hold_out += ts.holding_overflow_m3_h / 3.6 * DT_S
        trim_water_in += (ts.outflow_m3_h + (ts.trim_naoh_delivered_l_h + ts.trim_acid_delivered_l_h) / 1000.0) \
            / 3.6 * DT_S
        saw["divert"] += ts.diverted_m3_h > 0.0
        saw["overflow"] += ts.holding_overflow_m3_h > 0.0
        model.step(DT_S)
        hold_out += model.true_state().return_m3_h / 3.6 * DT_S  # P-501's flow is that of the step just run
        saw["return"] += model.true_state().return_m3_h > 0.0
    hold_in = diverted
    assert all(n > 100 for n in saw.values()), saw
    books = model.mass_balance()
    assert set(books) >= {f"{unit}.{name}" for unit in ("T-401", "outfall_pipe", "T-501")
                          for name in (*INVARIANT_NAMES, "water")}
    for name, balance in books.items():
        assert balance.closure_error < 1e-9, name
    # the model's books against an independent sum of what the true state says flowed
    assert books["T-401.water"].in_mol == pytest.approx(trim_water_in, rel=1e-3)
    assert books["T-501.water"].in_mol == pytest.approx(hold_in, rel=1e-3)
    assert books["T-501.water"].out_mol == pytest.approx(hold_out, rel=1e-3)
    assert model.diverted_m3 * 1000.0 == pytest.approx(hold_in, rel=1e-3)
    assert model.readings()["FQ-410"].value == model.diverted_m3
    # T-101's 'in' includes the return: water in = influent + reagents + return (the pipe and T-501 books close)
    returned = books["T-501.water"].out_mol - model.holding_overflow_total_m3 * 1000.0
    assert returned > 1000.0
    assert books["water"].in_mol - start["water"].in_mol > returned
    # what left T-401 went down the pipe, and what reached the valve went to the outfall or T-501
    assert books["T-401.water"].out_mol == pytest.approx(books["outfall_pipe.water"].in_mol, rel=1e-12)
    assert books["outfall_pipe.water"].out_mol == pytest.approx(
        (model.outfall_total_m3 + model.diverted_m3) * 1000.0, rel=1e-9)
    na = INVARIANT_NAMES.index("na")
    assert books["T-401.na"].in_mol > books["na"].out_mol, "P-401's caustic enters T-401's books"
    assert books["T-401.carbonate"].out_mol > books["outfall_pipe.carbonate"].in_mol, "CO2 leaves T-401 to air"
    assert model.trim_co2_to_air_mol != 0.0
    del na


def test_t101_books_count_the_return_flow_in() -> None:
    params = SimParams(holding_tank=HoldingTankParams(initial_volume_m3=5.0))
    model = PlantModel(params, seed=2)
    model.command("P-501.SP", 100.0)
    model.command("P-501.RUN", 1.0)
    influent_l = 0.0
    for _ in range(600):
        influent_l += model.true_state().influent.flow_m3_h / 3.6
        model.step(1.0)
    ts = model.true_state()
    assert ts.return_m3_h == pytest.approx(3.0)
    assert model.readings()["FIT-501"].value == pytest.approx(3.0, abs=0.1)
    assert model.readings()["P-501.SPEED"].value == 100.0 and model.readings()["P-501.RUNNING"].value == 1.0
    assert ts.holding_volume_m3 == pytest.approx(5.0 - 3.0 * 600 / 3600, rel=1e-9)
    books = model.mass_balance()
    assert books["water"].in_mol == pytest.approx(influent_l + 3000.0 * 600 / 3600, rel=1e-9)
    assert books["T-501.water"].out_mol == pytest.approx(500.0, rel=1e-9)
    for name, balance in books.items():
        assert balance.closure_error < 1e-9, name


def test_a_return_pump_on_an_empty_tank_delivers_nothing() -> None:
    model = PlantModel(SimParams(holding_tank=HoldingTankParams(initial_volume_m3=0.05)), seed=2)
    model.command("P-501.SP", 100.0)
    model.command("P-501.RUN", 1.0)
    for _ in range(120):  # 50 L at 3 m3/h: dry after 60 s
        model.step(1.0)
    ts = model.true_state()
    assert ts.holding_volume_m3 == 0.0 and ts.return_m3_h == 0.0
    assert model.readings()["P-501.RUNNING"].value == 1.0, "the pump runs, it just moves nothing"
    assert model.mass_balance()["T-501.water"].out_mol == pytest.approx(50.0, rel=1e-12)


def test_valve_travels_linearly_and_splits_the_flow_by_its_position() -> None:
    model = PlantModel(SimParams(diversion_valve=ValveParams(stroke_s=10.0)), seed=1)
    assert model.readings()["XV-410.POS"].value == 0.0
    model.command("XV-410.CMD", 1.0)
    assert model.commanded()["XV-410.CMD"] == 1.0
    for _ in range(4):
        model.step(1.0)
    ts = model.true_state()
    assert ts.valve_position == pytest.approx(0.4)
    assert model.readings()["XV-410.POS"].value == pytest.approx(40.0)
    total = ts.outfall_m3_h + ts.diverted_m3_h
    assert total > 1.0
    assert ts.diverted_m3_h == pytest.approx(0.4 * total) and ts.outfall_m3_h == pytest.approx(0.6 * total)
    for _ in range(7):
        model.step(1.0)
    ts = model.true_state()
    assert ts.valve_position == 1.0 and ts.outfall_m3_h == 0.0 and ts.diverted_m3_h > 1.0
    for _ in range(20):  # the flowmeter's lag
        model.step(1.0)
    assert model.readings()["FIT-410"].value == 0.0  # low-flow cutoff on an empty outfall line
    model.command("XV-410.CMD", 0.0)
    model.step(5.0)
    assert model.true_state().valve_position == pytest.approx(0.5)


def test_valve_fails_to_divert_on_a_watchdog_trip_and_a_reset_hands_it_back() -> None:
    model = PlantModel(SimParams(), seed=1)
    model.command("P-501.RUN", 1.0)
    model.command("P-501.SP", 50.0)
    model.safe_state("heartbeat lost")
    assert model.commanded()["XV-410.CMD"] == 1.0, "the fail position is divert"
    assert model.commanded()["P-501.RUN"] == 0.0 and model.commanded()["P-401.RUN"] == 0.0
    model.command("XV-410.CMD", 0.0)  # a late write while the interlock holds
    for _ in range(12):
        model.step(1.0)
    assert model.true_state().valve_position == 1.0, "diverts whatever the command while tripped"
    model.command("P-401.RESET", 1.0)  # any pump reset acknowledges the trip, as for P-201
    assert model.readings()["WATCHDOG.TRIPPED"].value == 0.0
    for _ in range(12):
        model.step(1.0)
    assert model.true_state().valve_position == 0.0


def test_holding_tank_overflow_goes_to_the_outfall_and_is_counted_off_spec() -> None:
    # nothing doses T-401: its water falls to the column outlet's pH ~2, all of it diverted into a small tank
    model = PlantModel(SimParams(holding_tank=HoldingTankParams(volume_m3=1.0),
                                 diversion_valve=ValveParams(stroke_s=0.0, initial_divert=True)), seed=3)
    model.command("XV-410.CMD", 1.0)
    counted = 0.0
    for _ in range(3600):
        ts = model.true_state()
        off = not 6.0 <= ts.discharge_ph <= 9.0
        counted += (ts.outfall_m3_h * off + ts.holding_overflow_m3_h * (not 6.0 <= ts.holding_ph <= 9.0)) / 3600.0
        model.step(1.0)
    ts = model.true_state()
    assert ts.holding_volume_m3 == pytest.approx(1.0)
    assert model.readings()["LIT-501"].value == pytest.approx(100.0, abs=0.5)
    assert ts.holding_overflow_m3_h == pytest.approx(ts.diverted_m3_h, rel=1e-6) and ts.outfall_m3_h == 0.0
    assert ts.holding_ph < 6.0
    assert model.readings()["FIT-410"].value == pytest.approx(ts.holding_overflow_m3_h, abs=0.3), \
        "the outfall meter sees the overflow"
    assert model.holding_overflow_total_m3 > 1.0
    # the runner's sum of the true-state fields counts what the model counted parcel by parcel: here only the
    # overflow once T-501's water went acidic (the first water in it was T-401's neutral start)
    assert 0.5 < model.offspec_discharged_m3 <= model.holding_overflow_total_m3
    assert counted == pytest.approx(model.offspec_discharged_m3, rel=1e-3)


@pytest.mark.parametrize("delay_s", [90.0, 30.0, 0.0])
def test_a_step_of_t401_ph_reaches_the_valve_one_pipe_delay_later(delay_s: float) -> None:
    model = PlantModel(SimParams(outfall_pipe_delay_s=delay_s), seed=9)
    model.command("P-401.RUN", 1.0)
    traj = run(model, 600.0, dt_s=1.0,
               controller=lambda t, r: {"P-401.SP": 60.0 if t >= 100.0 else 0.0})
    trim, discharge = traj.true["trim_ph"], traj.true["discharge_ph"]
    lag = int(delay_s)
    assert np.ptp(trim) > 2.0, "the caustic moved T-401's pH"
    np.testing.assert_array_equal(discharge[lag:], trim[:len(trim) - lag])
    # the discharge electrode sits at the pipe's start: it sees T-401's water before the valve does
    assert traj.measured["AIT-410"][300] == pytest.approx(trim[300], abs=0.5)


def test_trim_stage_neutralises_what_the_column_releases() -> None:
    model = PlantModel(SimParams(), seed=4)
    _start(model)
    for _ in range(4 * 1800):
        _both_stages(model)
        model.step(DT_S)
    ts = model.true_state()
    assert ts.column_outlet_ph < 3.0, "C-301 re-acidifies the water"
    assert 6.0 < ts.trim_ph < 9.0 and 6.0 < ts.discharge_ph < 9.0
    r = model.readings()
    assert r["FIT-401"].value == pytest.approx(ts.trim_naoh_pumped_l_h, abs=5.0) and r["FIT-401"].value > 5.0
    assert r["AIT-300"].value == pytest.approx(ts.influent.li_mg_l, rel=0.5)  # C-301's inlet: T-101's Li
    assert 0.0 < ts.trim_level_pct < 100.0


SCENARIO = """\
scenario: trim electrodes
duration_h: 1
events:
  - {at: "00:10", sensor: AIT-401, stuck: true}
  - {at: "00:10", sensor: AIT-402, drift_per_h: 1.0}
  - {at: "00:10", sensor: AIT-403, broken: true}
  - {at: "00:10", sensor: AIT-410, fail: true}
  - {at: "00:10", pump: P-401, capacity_pct: 40}
"""


def test_scenario_sensor_and_pump_events_reach_the_trim_stage() -> None:
    scenario = load_scenario("trim.yaml", SCENARIO)
    model = PlantModel(SimParams(), seed=6, scenario=scenario.player())
    model.command("P-401.RUN", 1.0)
    model.command("P-401.SP", 8.0)  # about what the column's acid needs at night, until the pump loses capacity
    for _ in range(600):
        model.step(1.0)
    frozen = model.readings()["AIT-401"].value
    for _ in range(1800):
        model.step(1.0)
    r, ts = model.readings(), model.true_state()
    assert r["AIT-401"].value == frozen and r["AIT-401"].status is SensorStatus.GOOD
    assert abs(frozen - ts.trim_ph) > 0.5, "the process moved away from the frozen reading"
    assert r["AIT-402"].value == pytest.approx(ts.trim_ph + 0.5, abs=0.15)
    assert r["AIT-402"].status is SensorStatus.GOOD, "drift does not flag itself"
    assert r["AIT-403"].value == pytest.approx(7.0, abs=0.05) and r["AIT-403"].status is SensorStatus.GOOD
    assert r["AIT-410"].status is SensorStatus.FAILED
    assert ts.trim_naoh_pumped_l_h == pytest.approx(0.4 * 250.0 * 0.08)
    assert r["FIT-401"].value == pytest.approx(8.0, abs=2.0)
