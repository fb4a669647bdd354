"""PlantModel as the PLC sees it: points, commands, pumps, watchdog safe state, sensor faults."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.interface import COMMANDS, FEEDBACK, MEASUREMENTS, CommandRejected, SensorStatus
from sim.model import PlantModel
from sim.params import InfluentParams, SensorParams, SensorSet, SimParams, TankParams


def _run(model: PlantModel, seconds: int, dt_s: float = 1.0) -> None:
    for _ in range(int(seconds / dt_s)):
        model.step(dt_s)


def test_every_point_of_the_contract_is_served() -> None:
    model = PlantModel(SimParams(), seed=1)
    model.step(1.0)
    assert set(model.readings()) == set(MEASUREMENTS) | set(FEEDBACK)
    assert set(model.commanded()) == set(COMMANDS)
    assert model.t_s == 1.0
    for name, r in model.readings().items():
        assert math.isfinite(r.value), name
        assert r.status is SensorStatus.GOOD, name


def test_readings_are_stable_between_steps() -> None:
    # The facade may read any number of times per step; noise is drawn per step, not per read.
    model = PlantModel(SimParams(), seed=1)
    model.step(1.0)
    assert model.readings() == model.readings()


@pytest.mark.parametrize(
    ("name", "value"),
    [("P-201.SP", 100.5), ("P-201.SP", -0.1), ("P-202.SP", float("nan")), ("P-201.RUN", 0.5),
     ("P-202.RESET", 2.0), ("P-203.SP", 10.0), ("AIT-101", 7.0), ("P-201.SPEED", 5.0)],
)
def test_commands_the_plc_refuses(name: str, value: float) -> None:
    model = PlantModel(SimParams(), seed=1)
    before = model.commanded()
    with pytest.raises(CommandRejected):
        model.command(name, value)
    assert model.commanded() == before


def test_pump_runs_at_its_setpoint_and_reads_back() -> None:
    model = PlantModel(SimParams(), seed=1)
    model.command("P-201.SP", 42.5)
    model.command("P-201.RUN", 1.0)
    model.step(1.0)
    r = model.readings()
    assert model.commanded()["P-201.SP"] == 42.5
    assert r["P-201.RUNNING"].value == 1.0 and r["P-201.SPEED"].value == 42.5
    assert r["P-202.RUNNING"].value == 0.0 and r["P-202.SPEED"].value == 0.0
    assert model.true_state().naoh_pumped_l_h == pytest.approx(0.425 * 250.0)


def test_trip_latches_fault_until_reset() -> None:
    model = PlantModel(SimParams(), seed=1)
    model.command("P-201.SP", 30.0)
    model.command("P-201.RUN", 1.0)
    model.trip_pump("P-201")
    _run(model, 5)
    r = model.readings()
    assert r["P-201.FAULT"].value == 1.0 and r["P-201.RUNNING"].value == 0.0 and r["P-201.SPEED"].value == 0.0
    assert model.true_state().naoh_pumped_l_h == 0.0
    model.command("P-201.RESET", 1.0)
    model.step(1.0)
    r = model.readings()
    assert r["P-201.FAULT"].value == 0.0 and r["P-201.RUNNING"].value == 1.0  # RUN still commanded


def test_safe_state_stops_both_pumps_and_latches_until_reset() -> None:
    model = PlantModel(SimParams(), seed=1)
    for pump in ("P-201", "P-202"):
        model.command(f"{pump}.SP", 20.0)
        model.command(f"{pump}.RUN", 1.0)
    model.safe_state("heartbeat lost")
    model.step(1.0)
    r = model.readings()
    assert r["WATCHDOG.TRIPPED"].value == 1.0
    assert model.commanded()["P-201.RUN"] == 0.0 and model.commanded()["P-201.SP"] == 0.0
    for pump in ("P-201", "P-202"):
        assert r[f"{pump}.RUNNING"].value == 0.0
    # a supervisor that simply writes RUN again does not restart a tripped watchdog
    model.command("P-201.SP", 20.0)
    model.command("P-201.RUN", 1.0)
    model.step(1.0)
    assert model.readings()["P-201.RUNNING"].value == 0.0
    model.command("P-201.RESET", 1.0)
    model.step(1.0)
    assert model.readings()["WATCHDOG.TRIPPED"].value == 0.0
    assert model.readings()["P-201.RUNNING"].value == 1.0


def test_dosing_line_dead_time_delays_reagent_to_the_tank() -> None:
    model = PlantModel(SimParams(), seed=1)  # P-201 dead time 20 s by default
    model.command("P-201.SP", 50.0)
    model.command("P-201.RUN", 1.0)
    _run(model, 19)
    assert model.true_state().naoh_delivered_l_h == 0.0
    _run(model, 2)
    assert model.true_state().naoh_delivered_l_h == pytest.approx(125.0)


def test_stuck_sensor_stops_changing_while_the_process_moves() -> None:
    model = PlantModel(SimParams(), seed=3)
    model.command("P-201.SP", 60.0)  # drives pH up hard
    model.command("P-201.RUN", 1.0)
    _run(model, 30)
    model.sensors["AIT-101"].stick()
    model.step(1.0)
    frozen = model.readings()["AIT-101"]
    true_before = model.true_state().ph
    values, others = [], set()
    for _ in range(300):
        model.step(1.0)
        values.append(model.readings()["AIT-101"])
        others.add(model.readings()["AIT-100"].value)
    assert all(v == frozen for v in values)
    assert frozen.status is SensorStatus.GOOD  # a stuck sensor looks healthy: that is the danger
    assert abs(model.true_state().ph - true_before) > 0.5
    assert len(others) > 100  # the influent pH electrode, not stuck, keeps moving


def test_failed_sensor_reads_failed_and_recovers() -> None:
    model = PlantModel(SimParams(), seed=3)
    model.sensors["AIT-101"].fail()
    model.step(1.0)
    assert model.readings()["AIT-101"].status is SensorStatus.FAILED
    assert model.readings()["AIT-100"].status is SensorStatus.GOOD
    model.sensors["AIT-101"].recover()
    model.step(1.0)
    r = model.readings()["AIT-101"]
    assert r.status is SensorStatus.GOOD
    assert r.value == pytest.approx(model.true_state().ph, abs=0.1)


def test_drift_beyond_tolerance_reads_uncertain() -> None:
    model = PlantModel(SimParams(), seed=3)
    sensor = model.sensors["AIT-101"]  # tolerance 0.2 pH
    sensor.set_drift(0.5)  # pH per hour
    _run(model, 1200, dt_s=2.0)  # 20 min: 0.167 pH, inside tolerance
    assert model.readings()["AIT-101"].status is SensorStatus.GOOD
    _run(model, 600, dt_s=2.0)  # 30 min: 0.25 pH
    r = model.readings()["AIT-101"]
    assert r.status is SensorStatus.UNCERTAIN
    assert r.value - model.true_state().ph == pytest.approx(0.25, abs=0.08)


def test_value_clamped_at_range_reads_uncertain() -> None:
    sensors = SensorSet(**{"CIT-101": SensorParams(
        lag_s=0, noise_sd_eu=0, drift_tolerance_eu=1, range_low_eu=0, range_high_eu=1.0)})
    model = PlantModel(SimParams(sensors=sensors), seed=3)
    model.step(1.0)
    assert model.true_state().conductivity_ms_cm > 1.0
    r = model.readings()["CIT-101"]
    assert r.value == 1.0 and r.status is SensorStatus.UNCERTAIN


def test_level_settles_over_the_weir() -> None:
    model = PlantModel(SimParams(), seed=1)
    model.influent.set_quantity(0.0, "flow_m3_h", 8.0, 0.0)
    _run(model, 3 * 3600, dt_s=5.0)
    ts = model.true_state()
    assert ts.outflow_m3_h == pytest.approx(8.0, rel=0.01)
    tank = model.params.tank
    expected_level_m = tank.weir_height_m + (8.0 / tank.weir_coeff_m3_h) ** (2 / 3)  # Francis weir
    assert ts.level_m == pytest.approx(expected_level_m, rel=0.01)
    assert model.readings()["LIT-101"].value == pytest.approx(expected_level_m / tank.height_m * 100, abs=1.0)


def test_rejects_a_non_positive_step() -> None:
    model = PlantModel(SimParams(), seed=1)
    with pytest.raises(ValueError, match="positive"):
        model.step(0.0)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(COMMANDS), st.sampled_from([0.0, 1.0, 7.5, 50.0, 100.0, 130.0]),
                          st.floats(0.1, 120.0)), min_size=1, max_size=25))
def test_any_command_sequence_keeps_the_plant_physical(
        script: list[tuple[str, float, float]]) -> None:
    model = PlantModel(SimParams(), seed=9)
    for name, value, dt_s in script:
        try:
            model.command(name, value)
        except CommandRejected:
            assert value not in (0.0, 1.0) and (value > 100.0 or not name.endswith(".SP"))
        model.step(dt_s)
        ts = model.true_state()
        assert 0.0 <= ts.ph <= 15.0
        assert all(c >= 0.0 for c in ts.tank.as_tuple())
        for tag, r in model.readings().items():
            assert math.isfinite(r.value), tag
    for books in model.mass_balance().values():
        assert books.closure_error < 1e-9


def test_neutralisation_heat_warms_t101_by_the_energy_balance() -> None:
    steady = InfluentParams(flow_amplitude_m3_h=0.0, temp_amplitude_c=0.0, flow_wander_fraction=0.0,
                            ph_amplitude=0.0, ph_wander=0.0, temp_mean_c=20.0)
    tank = TankParams(ambient_temp_c=20.0, heat_loss_kw_per_k=0.0)
    model = PlantModel(SimParams(influent=steady, tank=tank), seed=1)
    model.command("P-201.SP", 40.0)  # 100 L/h of 6.1 mol/L NaOH
    model.command("P-201.RUN", 1.0)
    _run(model, 6 * 3600, dt_s=5.0)
    released_kw = 100.0 * 6.1 / 3600.0 * 55.8
    carried_kw_per_k = 6.0 / 3600.0 * 4180.0  # influent m3/s x rho*cp
    assert model.true_state().temp_c - 20.0 == pytest.approx(released_kw / carried_kw_per_k, rel=0.03)


def test_configured_drift_starts_at_once() -> None:
    ph = SensorParams(lag_s=15, noise_sd_eu=0.0, drift_tolerance_eu=0.2, range_low_eu=0, range_high_eu=14,
                      drift_per_h_eu=-0.1)
    model = PlantModel(SimParams(sensors=SensorSet(**{"AIT-100": ph})), seed=1)
    _run(model, 3600, dt_s=5.0)
    r = model.readings()["AIT-100"]
    assert r.value - model.true_state().influent.ph == pytest.approx(-0.1, abs=0.02)
    assert r.status is SensorStatus.GOOD
