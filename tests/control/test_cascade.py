"""A cascade from the plant file: primary output → secondary remote setpoint, bumpless both ways."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from control.events import EventLog
from control.group import LoopGroup
from plantctl.config import ConfigError
from plantctl.config.models import LoopMode
from plantctl.plantfile import load_plant
from plantctl.samples import Sample

PRIMARY = """  - name: AIC-301
    description: C-301 outlet lithium trims the T-101 pH setpoint (uptake rises with pH)
    pv: AIT-301
    mv: []
    setpoint: 50
    setpoint_low: 0
    setpoint_high: 200
    kp: -0.01
    ki: -0.0001
    output_low: 6.5
    output_high: 8.5
    output_rate_per_s: 0.01
    mode: AUTO
"""


def _plant(tmp_path: Path, primary: str, cas: bool = True) -> Path:
    text = Path("examples/plant.yaml").read_text(encoding="utf-8")
    text = text.replace("loops:\n", "loops:\n" + primary, 1)
    if cas:
        text = text.replace("    mode: AUTO\n    fail_safe: {hold_s: 1800",
                            "    mode: AUTO\n    cas_source: AIC-301\n    fail_safe: {hold_s: 1800", 1)
    p = tmp_path / "plant.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_loop_without_outputs_must_be_a_cascade_primary(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs output tags"):
        load_plant(_plant(tmp_path, PRIMARY, cas=False))


def test_primary_tracks_secondary_until_cas_then_drives_its_setpoint_without_a_bump(tmp_path: Path) -> None:
    plant = load_plant(_plant(tmp_path, PRIMARY))
    group = LoopGroup(plant, EventLog())
    assert group.order.index("AIC-301") < group.order.index("PHC-101")
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    pri, sec = group.loops["AIC-301"], group.loops["PHC-101"]

    def period(k: int, li_mg_l: float) -> None:
        now = t0 + timedelta(seconds=k)
        for tag, v in (("AIT-101", 7.0), ("AIT-104", 7.0), ("AIT-105", 7.0), ("AIT-301", li_mg_l),
                       ("AIT-100", 2.5), ("FIT-100", 6.0),
                       ("LIT-101", 80.0), ("P-201.FAULT", 0.0), ("P-202.FAULT", 0.0), ("P-201.RUNNING", 1.0),
                       ("P-202.RUNNING", 1.0)):
            group.on_sample(Sample(tag, now, v))
        group.execute(now, 1.0)

    for k in range(5):
        period(k, 50.0)
    assert sec.mode is LoopMode.AUTO
    assert pri.output == pytest.approx(sec.setpoint)  # waiting at the secondary's setpoint
    now = t0 + timedelta(seconds=5)
    sec.set_mode(LoopMode.CAS, "op", now)
    sp_before = sec.setpoint
    period(5, 50.0)
    assert sec.remote_setpoint == pytest.approx(sp_before, abs=0.011)  # no bump on entering CAS
    for k in range(6, 200):
        period(k, 120.0)  # lithium slipping: the primary raises the pH setpoint
    assert sec.remote_setpoint is not None and sec.remote_setpoint > sp_before + 0.5
