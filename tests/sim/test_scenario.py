"""Scenario files: errors with file and line, events applied at their simulated time."""

from __future__ import annotations

from pathlib import Path

import pytest

from plantctl.config import ConfigError
from sim.interface import SensorStatus
from sim.model import PlantModel
from sim.params import InfluentParams, SimParams
from sim.scenario import CommsDrop, load_scenario

EXAMPLES = Path(__file__).parents[2] / "examples" / "scenarios"

BAD = """\
scenario: broken
duration_h: 2
colour: blue
events:
  - {at: "00:10", influent: {ph: 18}}
  - {at: "00:20", sensor: AIT-999, fail: true}
  - {at: "00:30", sensor: AIT-101, fail: true, recover: true}
  - {at: "half past", pump: P-201, trip: true}
  - {at: "00:40", pump: P-201}
  - {at: "00:50", comms_drop: {server: mqtt, duration_s: 5}}
  - {at: "00:55"}
  - {at: "03:00", influent: {ph: 2.0}}
  - {at: "01:00", shock_load: {ph: 1.5}}
  - {at: "01:00", influent: {ph: acid}}
"""


def _errors(text: str) -> list[tuple[int | None, str]]:
    with pytest.raises(ConfigError) as info:
        load_scenario("bad.yaml", text)
    return [(i.line, i.message) for i in info.value.issues]


def test_every_error_is_reported_with_its_line() -> None:
    errors = _errors(BAD)
    lines = [line for line, _ in errors]
    assert lines == [3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]
    text = dict(errors)
    assert "unknown field 'colour'" in text[3]
    assert "ph must be within 0.0..14.0" in text[5]
    assert "AIT-999" in text[6]
    assert "exactly one of" in text[7]
    assert "'half past'" in text[8]
    assert "trip: true, reset: true, capacity_pct" in text[9]
    assert "mqtt" in text[10]
    assert "exactly one of influent:" in text[11]
    assert "after the end of the scenario" in text[12]
    assert "duration_s" in text[13]
    assert "a number or 'pattern'" in text[14]
    with pytest.raises(ConfigError) as info:
        load_scenario("bad.yaml", BAD)
    assert "bad.yaml:5:" in str(info.value)


def test_yaml_syntax_error_has_a_line() -> None:
    assert _errors("scenario: x\nduration_h: [1\n")[0][0] is not None


def test_missing_header_fields() -> None:
    messages = [m for _, m in _errors("events: []\n")]
    assert "missing required field 'scenario'" in messages
    assert "missing required field 'duration_h'" in messages


def test_example_scenarios_load() -> None:
    normal = load_scenario(EXAMPLES / "normal-day.yaml")
    upset = load_scenario(EXAMPLES / "upset-day.yaml")
    assert normal.duration_s == upset.duration_s == 86400.0
    kinds = {type(e).__name__ for e in upset.events}
    assert {"ShockEvent", "SensorEvent", "PumpEvent", "InfluentEvent", "CommsDropEvent"} <= kinds
    assert upset.comms_drops() == [CommsDrop(start_s=20 * 3600.0, duration_s=60.0, server="modbus")]
    assert [e.at for e in upset.events] == sorted(e.at for e in upset.events)


TIMED = """\
scenario: timed
duration_h: 3
events:
  - {at: "00:10", influent: {ph: 1.8}, ramp_s: 600}
  - {at: "00:40", shock_load: {flow_m3_h: 9, li_mg_l: 900, duration_s: 1200}}
  - {at: "01:30", influent: {ph: pattern}}
  - {at: "01:40", sensor: AIT-101, fail: true}
  - {at: "01:50", sensor: AIT-101, recover: true}
  - {at: 6900, pump: P-201, trip: true}
  - {at: "01:55:30", pump: P-201, reset: true}
  - {at: "02:00", sensor: AIT-100, stuck: true}
  - {at: "02:30", comms_drop: {server: opcua, duration_s: 30}}
"""


def test_events_act_at_their_simulated_time() -> None:
    scenario = load_scenario("timed.yaml", TIMED)
    steady = InfluentParams(flow_amplitude_m3_h=0.0, ph_amplitude=0.0, li_amplitude_mg_l=0.0,
                            flow_wander_fraction=0.0, ph_wander=0.0, li_wander_fraction=0.0)
    model = PlantModel(SimParams(influent=steady), seed=2, scenario=scenario.player())
    model.command("P-201.RUN", 1.0)
    model.command("P-201.SP", 10.0)
    seen: dict[int, tuple[float, float, float, SensorStatus, float, float]] = {}
    for _ in range(3 * 3600):
        model.step(1.0)
        t = round(model.t_s)
        inf = model.true_state().influent
        r = model.readings()
        seen[t] = (inf.ph, inf.flow_m3_h, inf.li_mg_l, r["AIT-101"].status, r["P-201.FAULT"].value,
                   r["AIT-100"].value)
    assert seen[599][0] == pytest.approx(2.5)  # before the ramp
    assert seen[900][0] == pytest.approx(2.5 + (1.8 - 2.5) * 0.5, abs=0.01)  # half way along the ramp
    assert seen[1300][0] == pytest.approx(1.8)
    assert seen[2399][1] == pytest.approx(6.0) and seen[2401][1] == pytest.approx(9.0)  # shock starts
    assert seen[2401][2] == pytest.approx(900.0) and seen[2401][0] == pytest.approx(1.8)
    assert seen[3599][1] == pytest.approx(9.0)  # the shock lasts [start, start + duration_s)
    assert seen[3600][1] == pytest.approx(6.0) and seen[3600][2] == pytest.approx(450.0)  # shock over
    assert seen[5401][0] == pytest.approx(2.5)  # back to the (flat) pattern
    assert seen[5999][3] is SensorStatus.GOOD and seen[6001][3] is SensorStatus.FAILED
    assert seen[6601][3] is SensorStatus.GOOD
    assert seen[6899][4] == 0.0 and seen[6901][4] == 1.0 and seen[7131][4] == 0.0
    assert len({seen[t][5] for t in range(7201, 10800)}) == 1  # AIT-100 stuck
    assert len({seen[t][5] for t in range(6000, 7199)}) > 100
    assert scenario.comms_drops() == [CommsDrop(9000.0, 30.0, "opcua")]


def test_events_at_zero_apply_before_the_first_step() -> None:
    scenario = load_scenario("zero.yaml", "scenario: z\nduration_h: 1\nevents:\n"
                                          "  - {at: 0, sensor: AIT-101, fail: true}\n")
    model = PlantModel(SimParams(), seed=1, scenario=scenario.player())
    assert model.readings()["AIT-101"].status is SensorStatus.FAILED


def test_non_finite_numbers_are_refused() -> None:
    errors = _errors("scenario: n\nduration_h: 1\nevents:\n"
                     "  - {at: .nan, pump: P-201, trip: true}\n"
                     "  - {at: 10, sensor: AIT-101, drift_per_h: .inf}\n")
    assert [line for line, _ in errors] == [4, 5]


def test_an_influent_above_its_own_ph_carries_naoh_an_alkaline_spill() -> None:
    # No Li or Na, 5 mM chloride: with no sulfate this water is acid (HCl); asked for pH 9 it is
    # an alkaline spill, made up with NaOH (docs/simulator-model.md §1, "Influent defined by its pH").
    scenario = load_scenario("alk.yaml", "scenario: a\nduration_h: 1\nevents:\n"
                                         "  - {at: 0, influent: {ph: 9, li_mg_l: 0, na_mg_l: 0}}\n")
    model = PlantModel(SimParams(), seed=1, scenario=scenario.player())
    model.step(1.0)
    influent = model.true_state().influent
    assert influent.invariants.sulfate == 0.0
    assert influent.ph == 9.0 and influent.invariants.na > 0.005
