"""The `simulation:` section of a plant file: defaults, strict checking, errors with lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from plantctl.config import ConfigError
from plantctl.plantfile import load_plant
from sim.model import PlantModel
from sim.params import SimParams, load_sim_params

EXAMPLE = Path(__file__).parents[2] / "examples" / "plant.yaml"


def test_example_plant_builds_a_model() -> None:
    params = load_sim_params(EXAMPLE)
    assert params.seed == 42
    model = PlantModel.from_plant_file(EXAMPLE)
    assert model.seed == 42
    assert PlantModel.from_plant_file(EXAMPLE, seed=3).seed == 3


def test_seed_alone_is_a_complete_section(tmp_path: Path) -> None:
    plant = tmp_path / "plant.yaml"
    plant.write_text("plant: {name: x}\nsimulation: {seed: 5}\n")
    assert load_sim_params(plant) == SimParams(seed=5)


def test_errors_name_file_line_and_field(tmp_path: Path) -> None:
    plant = tmp_path / "plant.yaml"
    plant.write_text(
        "plant: {name: x}\n"
        "simulation:\n"
        "  seed: 1\n"
        "  tank:\n"
        "    area_m2: -2\n"
        "  P-201: {capacity_l_h: 100, reagent_mol_l: 6.1, dead_time_secs: 3}\n"
        "  sensors:\n"
        "    AIT-101: {lag_s: 5, noise_sd_eu: 0.01, drift_tolerance_eu: 0.2,"
        " range_low_eu: 14, range_high_eu: 0}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_sim_params(plant)
    found = {(i.line, i.message.split(" (")[0]) for i in info.value.issues}
    assert (5, "Input should be greater than 0") in found
    assert (6, "unknown field 'dead_time_secs'") in found
    assert (8, "range_low_eu must be below range_high_eu") in found
    assert f"{plant}:5:" in str(info.value)


def test_registered_with_the_plant_file_check(tmp_path: Path) -> None:
    plant = tmp_path / "plant.yaml"
    plant.write_text("plant: {name: x}\nsimulation:\n  seed: 1\n  tank_volume: 3\n")
    with pytest.raises(ConfigError) as info:
        load_plant(plant)
    assert any(i.line == 4 and "tank_volume" in i.message for i in info.value.issues)
    load_plant(EXAMPLE)  # and the example passes


def test_one_field_of_a_sensor_or_pump_keeps_the_other_defaults(tmp_path: Path) -> None:
    plant = tmp_path / "plant.yaml"
    plant.write_text("plant: {name: x}\nsimulation:\n  P-201: {dead_time_s: 45}\n"
                     "  sensors: {AIT-101: {lag_s: 25}}\n")
    params = load_sim_params(plant)
    assert params.naoh_pump.dead_time_s == 45 and params.naoh_pump.capacity_l_h == SimParams().naoh_pump.capacity_l_h
    assert params.sensors.ait_101.lag_s == 25
    assert params.sensors.ait_101.range_high_eu == 14.0
    assert params.sensors.cit_101 == SimParams().sensors.cit_101
