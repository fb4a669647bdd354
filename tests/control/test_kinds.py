"""Loop kinds: the plant file's `kind:` picks the control law from the registry; the PID core keeps to
simple-pid's public API and still tracks bumplessly."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from control.events import EventLog
from control.flow_law import FlowLaw
from control.group import LoopGroup
from control.kinds import LAWS
from control.ph_law import PhLaw
from control.pid import PidCore
from plantctl.config import ConfigError
from plantctl.config.models import LoopConfig, LoopKind, LoopMode
from plantctl.plantfile import load_plant
from plantctl.samples import Sample

CONTROL = Path(__file__).resolve().parents[2] / "control"


def _plant_text(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "plant.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_every_kind_of_the_schema_has_a_law() -> None:
    assert set(LAWS) == set(LoopKind)


def test_the_shipped_loop_is_kind_ph_by_default() -> None:
    plant = load_plant("examples/plant.yaml")
    assert plant.loops[0].kind is LoopKind.PH
    group = LoopGroup(plant, EventLog())
    assert isinstance(group.loops["PHC-101"].law, PhLaw)


def test_group_builds_each_loop_by_its_kind_and_cascades_ph_onto_flow() -> None:
    plant = load_plant("examples/plant.yaml")
    ph = plant.loops[0].model_dump()
    primary = LoopConfig.model_validate({**ph, "mv": [], "split_range": None, "interlocks": [],
                                         "output_low": 0.0, "output_high": 250.0})
    flow = LoopConfig.model_validate(dict(
        name="FIC-201", kind="flow", pv="FIT-100", mv=["P-201.SP"], setpoint=0.0, setpoint_low=0.0,
        setpoint_high=250.0, kp=0.02, ki=0.01, mode="AUTO", cas_source="PHC-101",
        turndown={"min_speed_pct": 8.0}))
    group = LoopGroup(plant.model_copy(update={"loops": [flow, primary]}), EventLog())
    assert group.order == ["PHC-101", "FIC-201"]
    assert isinstance(group.loops["FIC-201"].law, FlowLaw)
    assert isinstance(group.loops["PHC-101"].law, PhLaw)
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    for k in range(1, 4):
        now = t0 + timedelta(seconds=k)
        for tag, v in (("AIT-101", 6.5), ("AIT-104", 6.5), ("AIT-105", 6.5), ("FIT-100", 0.0), ("AIT-100", 2.5)):
            group.on_sample(Sample(tag, now, v))
        group.execute(now, 1.0)
    sec, pri = group.loops["FIC-201"], group.loops["PHC-101"]
    assert pri.output == sec.setpoint  # the primary waits at the secondary's setpoint
    sec.set_mode(LoopMode.CAS, "op", t0 + timedelta(seconds=4))
    group.execute(t0 + timedelta(seconds=4), 1.0)
    assert sec.mode is LoopMode.CAS and pri.output > 0.0  # pH 6.5 below 6.85: the primary asks for base flow
    assert sec.remote_setpoint == pytest.approx(pri.output)


@pytest.mark.parametrize(("line", "why"), [
    ("    kind: ratio\n", "kind: Input should be 'ph' or 'flow'"),
    ("    options: {gain: 2}\n", "loops.0.options: unknown field 'options'"),
    ("    turndown: {min_speed_pct: 8}\n",
     "turndown:, deviation_alarm: and meter_fallback: belong to kind flow, not ph"),
])
def test_kind_errors_name_the_file_and_line(tmp_path: Path, line: str, why: str) -> None:
    text = Path("examples/plant.yaml").read_text(encoding="utf-8")
    anchor = "    pv: AIT-101\n    voted_with: [AIT-104, AIT-105]"
    bad = _plant_text(tmp_path, text.replace(anchor, line + anchor, 1))
    with pytest.raises(ConfigError) as exc:
        load_plant(bad)
    lines = bad.read_text(encoding="utf-8").splitlines()
    where = next(i for i, ln in enumerate(lines, 1) if ln == line.rstrip("\n"))
    item = next(i for i, ln in enumerate(lines, 1) if "- name: PHC-101" in ln)
    text_err = str(exc.value)
    assert why in text_err
    assert f"plant.yaml:{where}:" in text_err or f"plant.yaml:{item}:" in text_err


def test_control_touches_no_private_attribute_of_simple_pid() -> None:
    src = "\n".join(p.read_text(encoding="utf-8") for p in CONTROL.rglob("*.py"))
    assert not re.search(r"_pid\._[a-z]", src)
    assert not re.search(r"setattr\([^)]*\"_", src)
    assert not re.search(r"\b_integral\b|\b_last_output\b|\b_proportional\b|\b_derivative\b", src)


def test_tracking_keeps_the_derivative_history_and_is_bumpless() -> None:
    kp, ki, kd, sp = 2.0, 0.5, 3.0, 7.0
    core = PidCore(kp, ki, kd, sp, -100.0, 100.0)
    core.start(10.0)
    core.update(7.2, 1.0)
    core.track(4.0)  # the plant got 4 %: the integral is back-calculated
    out = core.update(7.5, 1.0)
    p1, d1 = kp * (sp - 7.2), -kd * (7.2 - 7.2) / 1.0  # first step after start: no derivative history
    integral = 4.0 - (p1 + d1) + ki * (sp - 7.5) * 1.0
    assert out == pytest.approx(kp * (sp - 7.5) + integral - kd * (7.5 - 7.2) / 1.0)


def test_start_is_bumpless_and_seed_clamps_to_the_limits() -> None:
    core = PidCore(2.0, 0.5, 0.0, 7.0, 0.0, 100.0)
    core.start(30.0)
    assert core.integral == 30.0
    assert core.update(7.0, 1.0) == pytest.approx(30.0)
    core.seed(150.0)
    assert core.integral == 100.0
    core.set_bias(20.0)  # PID part limits become (-20, 80)
    assert core.integral == 80.0
    core.stop()
    assert not core.active


def test_an_unknown_voted_electrode_is_reported_with_its_line(tmp_path: Path) -> None:
    text = Path("examples/plant.yaml").read_text(encoding="utf-8")
    old = "{name: PHC-101.IL-LEVEL-LL, tag: LIT-101, below: 10, deadband: 2, message: T-101 level LL stops all dosing}"
    assert old in text
    bad = _plant_text(tmp_path, text.replace(old, old[:-1] + ",\n         voted_with: [LIT-101, AIT-999]}", 1))
    with pytest.raises(ConfigError) as exc:
        load_plant(bad)
    lines = bad.read_text(encoding="utf-8").splitlines()
    where = next(i for i, ln in enumerate(lines, 1) if "AIT-999" in ln)
    assert "voted_with: needs two more tags, distinct from tag:" in str(exc.value)  # LIT-101 twice
    fixed = _plant_text(tmp_path, text.replace(old, old[:-1] + ",\n         voted_with: [AIT-100, AIT-999]}", 1))
    with pytest.raises(ConfigError) as exc2:
        load_plant(fixed)
    assert f"plant.yaml:{where}: loops.0.interlocks.2.voted_with.1: unknown tag 'AIT-999'" in str(exc2.value)
