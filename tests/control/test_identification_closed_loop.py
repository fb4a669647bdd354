"""The whole example plant in closed loop while the influent loses its carbonate mid-run (TIC stripped
upstream): PHC-101's on-line identification reads the lost buffering from its own dose and the pH's
response, and the curve its compensation uses follows it; nothing is adopted while the plant is steady."""

from __future__ import annotations

from pathlib import Path

import pytest

from control.compensation import TitrationCurve
from control.events import LoopEventKind
from control.group import LoopGroup
from control.ph_law import PhLaw
from plantctl.plantfile import load_plant
from plantctl.tools.closed_loop import EPOCH, ReturnLoopsToAuto, run_plant_on_scenario
from sim.scenario import InfluentChange, InfluentEvent, Scenario

ROOT = Path(__file__).resolve().parents[2]
PLANT = ROOT / "examples" / "plant.yaml"
STRIP_S = 3600.0


@pytest.mark.slow
def test_the_curve_in_use_follows_the_buffering_lost_when_the_influent_is_degassed() -> None:
    plant = load_plant(PLANT)
    cfg = next(lp for lp in plant.loops if lp.name == "PHC-101")
    assert cfg.identification is not None and cfg.titration_curve is not None
    prior = TitrationCurve.from_config(cfg.titration_curve)
    seen: dict[str, PhLaw] = {}
    operator = ReturnLoopsToAuto(plant)

    def op(t_s: float, group: LoopGroup) -> None:  # the operator, and a look at the loop's law at the end
        law = group.loops["PHC-101"].law
        assert isinstance(law, PhLaw)
        seen["law"] = law
        operator(t_s, group)

    sc = Scenario("tic-stripped", "the influent arrives degassed from the first hour", 5 * 3600.0, 7,
                  (InfluentEvent(at=STRIP_S, influent=InfluentChange(tic_mmol_l=0.05)),))
    r = run_plant_on_scenario(PLANT, sc, operator=op, record_every_s=5.0)
    adopted = [e for e in r.events.of(LoopEventKind.TITRATION_ADOPTED) if e.loop == "PHC-101"]
    assert adopted, "no curve was identified after the buffering changed"
    assert all((e.ts - EPOCH).total_seconds() > STRIP_S for e in adopted)  # nothing while it was steady
    assert all("dose-response" in e.reason for e in adopted)
    law = seen["law"]
    assert law.identified and law.curve is not None
    # degassed, T-101 holds a fraction of the carbonate buffering the plant file's curve has near the setpoint
    fit = law.last_fit
    assert fit is not None
    ph = fit.ph
    assert law.curve.slope(ph) < 0.6 * prior.slope(ph), (ph, law.curve.slope(ph), prior.slope(ph))
    assert r.figures["offspec_discharged_l"] == 0.0, r.line()
