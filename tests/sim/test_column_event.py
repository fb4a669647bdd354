"""The `column:` scenario event: C-301 regenerated (fresh bed) or found near exhaustion, mid-run."""

from __future__ import annotations

import pytest

from plantctl.config.yamlsrc import ConfigError
from sim.model import PlantModel
from sim.params import ColumnParams, SimParams
from sim.scenario import load_scenario

TEXT = """scenario: column swap
duration_h: 1
events:
  - {at: "00:10", column: {loading_fraction: 0.97}}
  - {at: "00:20", column: {loading_fraction: 0}}
"""


def test_the_bed_is_loaded_then_regenerated_and_its_uptake_follows() -> None:
    scenario = load_scenario("column.yaml", TEXT)
    model = PlantModel(SimParams(column=ColumnParams(initial_loading_fraction=0.3)), seed=1,
                       scenario=scenario.player())
    removal: dict[int, float] = {}
    for _ in range(1500):
        model.step(1.0)
        removal[round(model.t_s)] = model.column.removal(7.0)
    assert model.column.loading_fraction < 0.01  # fresh since 00:20
    assert removal[599] > 0.9 and removal[601] < 0.5 * removal[599]  # near breakthrough: little uptake
    assert removal[1201] > 0.9 > removal[1199]  # regenerated at 00:20: full uptake again


def test_a_loading_outside_0_1_is_refused_with_its_line() -> None:
    with pytest.raises(ConfigError, match=r"column.yaml:4: .*loading_fraction"):
        load_scenario("column.yaml", TEXT.replace("0.97", "1.5"))
