"""The strategy's blocks wired from a plant file: a loop on voted electrodes, a split-range primary whose
high side is an inner flow loop's setpoint, and a diversion valve fed by the worst discharge measurement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from control import points as control_points
from control.diversion import DiversionState
from control.events import EventLog, LoopEventKind
from control.group import LoopGroup
from control.loop import FailSafeState
from plantctl.config import ConfigError
from plantctl.config.models import AlarmType, LoopMode, PlantConfig
from plantctl.plantfile import load_plant
from plantctl.points import with_system_points
from plantctl.quality import Quality
from plantctl.samples import Sample

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _tag(name: str, addr: int, unit: str = "pH", high: float = 14, writable: bool = False,
         table: str = "input_register") -> str:
    if writable:
        table = "holding_register"
    return (f"  - {{name: {name}, unit: {unit!r}, range: {{low: 0, high: {high}}}, source: PLC, "
            f"writable: {str(writable).lower()}, modbus: {{table: {table}, address: {addr}, type: float32}}}}\n")


TAGS = "".join([
    _tag("AIT-1", 0), _tag("AIT-2", 2), _tag("AIT-3", 4), _tag("AIT-9", 6), _tag("FIT-1", 8, "L/h", 300),
    _tag("LIT-5", 10, "%", 100), _tag("FIT-0", 12, "m3/h", 15),
    _tag("P-1.SP", 0, "%", 100, True), _tag("P-2.SP", 2, "%", 100, True), _tag("XV-9.CMD", 4, "bool", 1, True),
    _tag("P-5.SP", 6, "%", 100, True),
])
LOOPS = """loops:
  - {name: PHC-1, pv: AIT-1, voted_with: [AIT-2, AIT-3], mv: [FC-1, P-2.SP], setpoint: 7, setpoint_low: 6,
     setpoint_high: 8, kp: 10, ki: 0.1, output_low: -10, output_high: 100, mode: AUTO,
     split_range: {dead_band_pct: 0.0, low_side_gain: 10}, fail_safe: {hold_s: 60, stale_after_s: 10}}
  - {name: FC-1, kind: flow, pv: FIT-1, mv: [P-1.SP], setpoint: 0, setpoint_low: 0, setpoint_high: 250,
     kp: 0.1, ki: 0.2, mode: CAS, cas_source: PHC-1, cas_scale: 2.5, deviation_alarm: {limit: 15}}
"""
DIVERSION = """diversion:
  - {name: XV-9, ph: [AIT-9, PHC-1], valve: XV-9.CMD, holding_level: LIT-5, flow: FIT-0,
     return_pump: {sp: P-5.SP, speed_pct: 40, start_level_pct: 10, stop_level_pct: 3, after_outfall_s: 100},
     return_s: 30, min_divert_s: 60}
"""


def _plant(tmp_path: Path, loops: str = LOOPS, diversion: str = DIVERSION) -> Path:
    text = ("plant: {name: test}\nsources:\n  - {name: PLC, kind: modbus, host: 127.0.0.1, port: 5020}\ntags:\n"
            + TAGS + loops + diversion)
    p = tmp_path / "plant.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def _feed(group: LoopGroup, now: datetime, values: dict[str, float | None]) -> None:
    for tag, v in values.items():
        if v is None:
            group.on_sample(Sample(tag, now, float("nan"), Quality.BAD_SENSOR_FAILURE, "sensor failed"))
        else:
            group.on_sample(Sample(tag, now, v))


def _group(tmp_path: Path) -> tuple[PlantConfig, LoopGroup, EventLog]:
    plant = load_plant(_plant(tmp_path))
    log = EventLog()
    return plant, LoopGroup(plant, log), log


def test_the_loop_controls_on_the_middle_of_three_and_holds_on_two_failures(tmp_path: Path) -> None:
    _plant_cfg, group, log = _group(tmp_path)
    ph = group.loops["PHC-1"]
    base = {"AIT-9": 7.0, "FIT-1": 0.0, "LIT-5": 0.0, "FIT-0": 5.0}
    medians = []
    for k in range(30):
        now = T0 + timedelta(seconds=k)
        _feed(group, now, {**base, "AIT-1": 7.0 + 0.01 * (k % 3), "AIT-2": 6.5, "AIT-3": 12.0})  # AIT-3 wild
        group.execute(now, 1.0)
        assert ph.vote is not None
        medians.append(ph.vote.value)
    assert ph.mode is LoopMode.AUTO
    assert medians[10] == pytest.approx(7.0, abs=0.03)  # the median, not the mean of 7, 6.5 and 12
    assert ph.vote.in_vote == ("AIT-1", "AIT-2")  # AIT-3 out after remove_delay_s: the mean of two
    assert ph.vote.value == pytest.approx(6.76, abs=0.02)
    for k in range(30, 60):
        now = T0 + timedelta(seconds=k)
        _feed(group, now, {**base, "AIT-1": None, "AIT-2": 6.5, "AIT-3": None})  # two Bad: vote lost
        group.execute(now, 1.0)
    assert ph.fail_safe is FailSafeState.HOLD
    kinds = [e.kind for e in log.events if e.loop == "PHC-1"]
    assert LoopEventKind.ELECTRODE_REMOVED in kinds and LoopEventKind.VOTE_LOST in kinds


def test_the_primary_high_side_is_the_flow_loops_setpoint_and_is_never_written(tmp_path: Path) -> None:
    _plant_cfg, group, _log = _group(tmp_path)
    written: list[str] = []
    for k in range(40):
        now = T0 + timedelta(seconds=k)
        _feed(group, now, {"AIT-1": 6.0, "AIT-2": 6.01, "AIT-3": 5.99, "AIT-9": 7.0, "FIT-1": 0.0,
                           "LIT-5": 0.0, "FIT-0": 5.0})
        written += [r.tag for r in group.execute(now, 1.0)]
    assert "FC-1" not in written and "P-1.SP" in written and "P-2.SP" in written
    pri, sec = group.loops["PHC-1"], group.loops["FC-1"]
    assert pri.output > 0  # pH below setpoint: base
    assert sec.mode is LoopMode.CAS
    assert sec.remote_setpoint == pytest.approx(min(pri.output * 2.5, 250.0))


def test_diversion_follows_the_worst_measurement_and_returns_only_after_dwell_and_hold(tmp_path: Path) -> None:
    _plant_cfg, group, log = _group(tmp_path)
    block = group.diversions["XV-9"]
    valve: list[float] = []
    pump: list[float] = []

    def run(seconds: range, ait9: float, level: float) -> None:
        for k in seconds:
            now = T0 + timedelta(seconds=k)
            _feed(group, now, {"AIT-1": 7.0 + 0.01 * (k % 3), "AIT-2": 7.0, "AIT-3": 7.02, "AIT-9": ait9,
                               "FIT-1": 0.0, "LIT-5": level, "FIT-0": 3.6})
            for r in group.execute(now, 1.0):
                if r.tag == "XV-9.CMD":
                    valve.append(r.value)
                if r.tag == "P-5.SP":
                    pump.append(r.value)

    run(range(0, 100), 7.0, 20.0)
    assert block.state is DiversionState.OUTFALL  # earned: min_divert_s 60 then 30 s in the return band
    assert valve[0] == 1.0 and valve[-1] == 0.0 and 60 <= valve.index(0.0) <= 100
    run(range(100, 110), 5.9, 20.0)  # the discharge electrode says off-spec: divert in the same period
    assert block.state is DiversionState.DIVERTING and valve[-10] == 1.0
    run(range(110, 140), 7.0, 20.0)  # back in band, but not for min_divert_s yet
    assert block.state is DiversionState.DIVERTING
    run(range(140, 200), 7.0, 20.0)
    assert block.state is DiversionState.OUTFALL
    assert max(pump) == 0.0  # the return pump waits after_outfall_s after the outfall reopened
    run(range(200, 320), 7.0, 20.0)
    assert pump[-1] == 40.0
    run(range(320, 330), 7.0, 2.0)  # the holding tank is down to its stop level
    assert pump[-1] == 0.0
    run(range(330, 340), 7.0, 96.0)  # full, and the voted T-401 pH goes off-spec: nowhere to send it
    for k in range(340, 350):
        now = T0 + timedelta(seconds=k)
        _feed(group, now, {"AIT-1": 9.5, "AIT-2": 9.4, "AIT-3": 9.45, "AIT-9": 7.0, "FIT-1": 0.0, "LIT-5": 96.0,
                           "FIT-0": 3.6})
        group.execute(now, 1.0)
    assert block.state is DiversionState.NOWHERE
    assert [e for e in log.events if e.loop == "XV-9" and e.kind is LoopEventKind.DIVERSION_CHANGE]
    assert block.controller.diverted_l > 0


@pytest.mark.parametrize(("loops", "diversion", "message"), [
    (LOOPS.replace("cas_source: PHC-1, ", ""), DIVERSION, "must name this loop"),
    (LOOPS.replace("voted_with: [AIT-2, AIT-3], ", ""), DIVERSION, "has no voted PV"),
    (LOOPS, DIVERSION.replace("valve: XV-9.CMD", "valve: AIT-9"), "not writable"),
    (LOOPS, DIVERSION.replace("holding_level: LIT-5", "holding_level: LIT-7"), "unknown tag 'LIT-7'"),
    (LOOPS.replace("voted_with: [AIT-2, AIT-3]", "voted_with: [AIT-2]"), DIVERSION, "two more electrodes"),
])
def test_a_wrong_strategy_section_is_refused_with_its_line(tmp_path: Path, loops: str, diversion: str,
                                                          message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        load_plant(_plant(tmp_path, loops, diversion))
    assert "plant.yaml:" in str(err.value)


def test_the_strategy_states_are_published_as_system_points_with_their_alarms(tmp_path: Path) -> None:
    plant, group, _log = _group(tmp_path)
    declared = control_points.declare(plant)
    service = with_system_points(plant, [declared])  # the assembly's check: names in SYS., alarms on points
    names = {t.name for t in service.tags}
    assert {"SYS.CONTROL.AIT-3.VOTE", "SYS.CONTROL.PHC-1.VOTE_LOST", "SYS.CONTROL.XV-9.STATE",
            "SYS.CONTROL.FC-1.FLOW_SHORT"} - names == set()
    out = [a for a in service.alarms if a.name == "SYS.CONTROL.AIT-3.VOTE.OUT"]
    assert out and out[0].type is AlarmType.DISCRETE and out[0].limit == 2
    published: list[Sample] = []
    points = control_points.ControlPoints(published.extend, plant)
    for k in range(60):
        now = T0 + timedelta(seconds=k)
        _feed(group, now, {"AIT-1": 7.0 + 0.01 * (k % 3), "AIT-2": 7.01, "AIT-3": 3.0 if k > 5 else 7.0,
                           "AIT-9": 7.0, "FIT-1": 0.0, "LIT-5": 10.0, "FIT-0": 5.0})
        group.execute(now, 1.0)
        points.update(group, now)
    last = {s.tag: s for s in published}
    assert last["SYS.CONTROL.AIT-3.VOTE"].value == control_points.ELECTRODE_OUT
    assert "out" not in last["SYS.CONTROL.AIT-1.VOTE"].reason and last["SYS.CONTROL.AIT-1.VOTE"].value == 0.0
    assert last["SYS.CONTROL.PHC-1.VOTE_LOST"].value == 0.0  # two left: still voting
    assert last["SYS.CONTROL.XV-9.STATE"].value == 1.0  # diverting: the outfall is earned (min_divert_s)
    # only changes (and the 60 s refresh) are published, not every period
    assert sum(1 for s in published if s.tag == "SYS.CONTROL.AIT-3.VOTE") <= 3
