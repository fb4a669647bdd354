"""A spare electrode in the same water (T-401's discharge electrode AIT-410) stands in while one of the three
is out: two left that disagree can be told apart, and a failed channel plus a drifting one do not trip the
2oo3 interlock between them. Closed-loop on the whole plant, and the blocks on their own."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from control.events import EventLog, LoopEventKind
from control.loop import Loop
from control.voting import ElectrodeVoter, VoteEvent, VoteEventKind
from plantctl.config import ConfigError
from plantctl.config.models import LoopConfig
from plantctl.plantfile import load_plant
from plantctl.quality import Quality
from plantctl.samples import Sample
from plantctl.tools.closed_loop import run_plant_on_scenario
from plantctl.tools.upset_sweep import sim_params, spare_overrides
from sim.scenario import Scenario, SensorEvent

ROOT = Path(__file__).resolve().parents[2]
PLANT = ROOT / "examples" / "plant.yaml"
T0 = datetime(2026, 3, 1, tzinfo=UTC)
NAMES = ("AIT-1A", "AIT-1B", "AIT-1C")


def _process(t: float) -> float:
    return 7.0 + 0.3 * math.sin(2 * math.pi * t / 600.0)


def _run_voter(spare: str | None) -> list[VoteEvent]:
    """C fails at 100 s; B drifts up 3 pH/h from 200 s; the spare reads the process."""
    events: list[VoteEvent] = []
    voter = ElectrodeVoter(NAMES, events=events.append, spare=spare)
    for k in range(1, 1500):
        now = T0 + timedelta(seconds=k)
        p = _process(k)
        noise = 0.003 * math.sin(1.3 * k)
        samples = {"AIT-1A": Sample("AIT-1A", now, p + noise),
                   "AIT-1B": Sample("AIT-1B", now, p - noise + max(k - 200, 0) * 3.0 / 3600.0),
                   "AIT-1C": Sample("AIT-1C", now, 0.0, Quality.BAD_SENSOR_FAILURE) if k > 100
                   else Sample("AIT-1C", now, p)}
        if spare is not None:
            samples[spare] = Sample(spare, now, p + 0.5 * noise)
        voter.update(now, samples)
    assert voter.last is not None
    return events


def test_with_a_spare_the_drifting_one_of_two_left_is_taken_out() -> None:
    removed = [e for e in _run_voter("AIT-9") if e.kind is VoteEventKind.REMOVED]
    assert [e.electrode for e in removed] == ["AIT-1C", "AIT-1B"]
    assert "drift" in removed[1].reason and "3 left" in removed[0].reason  # the spare stands in for C


def test_without_a_spare_two_left_that_disagree_cannot_be_told_apart() -> None:
    removed = [e for e in _run_voter(None) if e.kind is VoteEventKind.REMOVED]
    assert [e.electrode for e in removed] == ["AIT-1C"]


def _interlocked(spare: str | None) -> Loop:
    lock: dict[str, Any] = {"name": "IL-PH-HH", "tag": "AIT-1A", "voted_with": ["AIT-1B", "AIT-1C"], "above": 9.0,
                            "deadband": 0.3}
    if spare is not None:
        lock["spare"] = spare
    cfg = LoopConfig.model_validate(dict(name="PHC-1", pv="AIT-1A", mv=["P-1.SP"], setpoint=7.0, setpoint_low=6.0,
                                         setpoint_high=8.0, kp=5.0, ki=0.01, mode="AUTO", output_rate_per_s=None,
                                         interlocks=[lock]))
    return Loop(cfg, EventLog(), "pH")


@pytest.mark.parametrize(("spare", "trips"), [("AIT-9", False), (None, True)])
def test_a_spare_stands_in_for_a_failed_interlock_channel(spare: str | None, trips: bool) -> None:
    loop = _interlocked(spare)
    for k in range(1, 30):
        now = T0 + timedelta(seconds=k)
        for name, v in (("AIT-1A", 6.8), ("AIT-1B", 9.4 if k > 10 else 6.8), ("AIT-1C", None), ("AIT-9", 6.8)):
            loop.on_sample(Sample(name, now, 0.0, Quality.BAD_SENSOR_FAILURE) if v is None else Sample(name, now, v))
        loop.execute(now, 1.0)
    assert (loop.active_interlocks == ["IL-PH-HH"]) is trips


def test_a_spare_must_be_a_fourth_tag_of_a_vote(tmp_path: Path) -> None:
    text = PLANT.read_text(encoding="utf-8").replace(
        "    vote_spare: AIT-410\n", "").replace("    voted_with: [AIT-402, AIT-403]\n",
                                                "    voted_with: [AIT-402, AIT-403]\n    vote_spare: AIT-402\n", 1)
    p = tmp_path / "plant.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="vote_spare: stands in for one of the voted electrodes"):
        load_plant(p)


@pytest.mark.slow
def test_a_failed_and_a_drifting_t401_electrode_neither_divert_the_plant_nor_discharge_off_spec() -> None:
    # the sweep's electrode-two seed 2: without the spare the loop controlled on the mean of AIT-401 and the
    # drifting AIT-402, the 2oo3 HH trip (AIT-403 failed + AIT-402 above 9) stopped the soda ash, T-401 was
    # 7,195 s out of 6-9 and 79 % of the flow went to the holding tank (2,164 L off-spec before XV-410's fix)
    warm = 1800.0
    events = (SensorEvent.model_validate({"at": warm + 532.0, "sensor": "AIT-403", "fail": True}),
              SensorEvent.model_validate({"at": warm + 638.0, "sensor": "AIT-402", "drift_per_h": 3.1}))
    sc = Scenario("t401-fail-and-drift", "", warm + 3 * 3600.0, 2, events)
    r = run_plant_on_scenario(PLANT, sc, sim_params=sim_params(PLANT, 3.93, {}), count_from_s=warm,
                              record_every_s=5.0, overrides=spare_overrides(PLANT))
    f = r.figures
    assert [e.data.get("electrode") for e in r.events.of(LoopEventKind.ELECTRODE_REMOVED)] == ["AIT-403", "AIT-402"]
    assert f["offspec_discharged_l"] == 0.0, r.line()
    assert f["out_of_band_t401_s"] == 0.0, r.line()
    assert f["diverted_l"] <= 0.05 * f["influent_l"], r.line()
