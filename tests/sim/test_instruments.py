"""Instruments that fail the way real ones do: three electrodes, an analyser that samples, reagent flowmeters."""

from __future__ import annotations

import itertools

import pytest

from sim.interface import SensorStatus
from sim.model import PlantModel
from sim.params import SimParams, TankParams
from sim.scenario import load_scenario


def _run(model: PlantModel, seconds: int) -> None:
    for _ in range(seconds):
        model.step(1.0)


def _dosing(params: SimParams | None = None) -> PlantModel:
    model = PlantModel(params or SimParams(), seed=7)
    model.command("P-201.RUN", 1.0)
    model.command("P-201.SP", 3.0)
    return model


def test_three_electrodes_agree_when_healthy_and_drift_on_b_stays_good() -> None:
    model = _dosing()
    model.sensors["AIT-104"].set_drift(0.5)  # 0.5 pH per hour, silently
    _run(model, 3600)
    r = model.readings()
    truth = model.true_state().ph
    assert r["AIT-101"].value == pytest.approx(truth, abs=0.1)
    assert r["AIT-105"].value == pytest.approx(truth, abs=0.1)
    assert r["AIT-104"].value == pytest.approx(truth + 0.5, abs=0.1)
    assert r["AIT-104"].status is SensorStatus.GOOD, "no transmitter knows it is drifting"


def test_broken_glass_reads_near_7_and_stays_good_and_stuck_stays_good() -> None:
    model = _dosing()
    model.sensors["AIT-105"].break_glass()
    model.sensors["AIT-104"].stick()
    frozen = model.readings()["AIT-104"].value
    model.command("P-201.SP", 30.0)
    _run(model, 1800)
    r = model.readings()
    assert abs(model.true_state().ph - 7.0) > 1.0, "the tank has moved well away from 7"
    assert r["AIT-105"].value == pytest.approx(7.0, abs=0.05) and r["AIT-105"].status is SensorStatus.GOOD
    assert r["AIT-104"].value == frozen and r["AIT-104"].status is SensorStatus.GOOD


def test_coating_slows_the_response_and_calibration_holds_then_clears_it() -> None:
    text = """
scenario: coating
duration_h: 2
events:
  - {at: 0, sensor: AIT-105, coating_per_day: 86400}
  - {at: 5400, sensor: AIT-105, calibrate: true}
"""
    model = _dosing()
    model.attach_scenario(load_scenario("coating.yaml", text).player())
    _run(model, 600)  # lag of C has grown to 15 s + 600 s
    model.command("P-201.SP", 30.0)
    _run(model, 300)
    r = model.readings()
    assert abs(r["AIT-101"].value - r["AIT-105"].value) > 0.5, "the coated electrode lags far behind"
    _run(model, 4501)  # the calibration at 5400 s
    held = model.readings()["AIT-105"]
    assert held.status is SensorStatus.UNCERTAIN
    _run(model, 10)
    assert model.readings()["AIT-105"].value == held.value, "held while out of the process"
    _run(model, 400)
    r = model.readings()
    assert r["AIT-105"].status is SensorStatus.GOOD
    assert model.sensors["AIT-105"].coating_lag_s < 500.0, "calibration cleaned it (it fouls again)"


def test_lithium_analyser_samples_and_holds_and_is_uncertain_while_calibrating() -> None:
    model = _dosing()
    values = []
    for _ in range(1800):
        model.step(1.0)
        values.append(model.readings()["AIT-301"].value)
    changes = sum(1 for a, b in itertools.pairwise(values) if a != b)
    assert changes == 3, "a new result every 600 s, held in between"
    model.sensors["AIT-301"].calibrate()
    model.step(1.0)
    assert model.readings()["AIT-301"].status is SensorStatus.UNCERTAIN


def test_reagent_flowmeter_sees_a_worn_pump_that_its_speed_feedback_hides() -> None:
    model = _dosing()
    model.command("P-201.SP", 20.0)
    _run(model, 30)
    assert model.readings()["FIT-201"].value == pytest.approx(50.0, abs=2.0)
    model.pumps["P-201"].set_capacity_pct(50.0)
    _run(model, 30)
    r = model.readings()
    assert r["P-201.SPEED"].value == 20.0
    assert r["FIT-201"].value == pytest.approx(25.0, abs=2.0)
    assert r["FIT-202"].value == 0.0 and r["FIT-202"].status is SensorStatus.GOOD  # low-flow cutoff


def test_column_outlet_ph_carries_the_h_released_for_li() -> None:
    model = _dosing()
    _run(model, 1800)
    ts = model.true_state()
    assert ts.column_outlet_li_mg_l < 0.5 * ts.influent.li_mg_l, "the fresh bed takes up most of the Li"
    assert ts.column_outlet_ph < ts.ph - 0.5, "the H+ the sorbent gives back acidifies T-401's inlet"
    assert model.readings()["AIT-302"].value == pytest.approx(ts.column_outlet_ph, abs=0.1)


def test_mixing_time_and_electrode_delay_slow_what_the_electrode_sees() -> None:
    plain = _dosing()
    slow = _dosing(SimParams(tank=TankParams(mixing_time_s=60.0, electrode_delay_s=30.0)))
    for model in (plain, slow):
        _run(model, 600)
        model.command("P-201.SP", 30.0)
    first = []
    for model in (plain, slow):
        _run(model, 40)  # 20 s dosing-line dead time + 20 s
        first.append(model.readings()["AIT-101"].value)
    assert first[0] - first[1] > 0.2, "mixing and transport hold the electrode back"
    for model in (plain, slow):
        _run(model, 1800)
    assert slow.readings()["AIT-101"].value == pytest.approx(plain.readings()["AIT-101"].value, abs=0.1)
    for name, books in slow.mass_balance().items():
        assert books.closure_error < 1e-9, name
