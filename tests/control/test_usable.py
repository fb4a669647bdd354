"""One judgement of "may a controller act on this value" (Sample.usable), shared by the loop, the vote and the
diversion: Bad never, stale (by receipt time) beyond the limit never, Uncertain yes — the same boundary in all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from control.diversion import DiversionState
from control.diversion_block import DiversionBlock
from control.events import EventLog
from control.voting import ElectrodeVoter, TwoOutOfThree, VoterSettings
from plantctl.plantfile import load_plant
from plantctl.quality import Quality
from plantctl.samples import Sample

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_bad_or_stale_is_unusable_and_says_why() -> None:
    good = Sample("AIT-101", T0, 7.0)
    assert good.usable(T0 + timedelta(seconds=10), 10.0)  # exactly at the limit: still usable
    assert not good.usable(T0 + timedelta(seconds=10.001), 10.0)
    assert (good.why_unusable(T0 + timedelta(seconds=12), 10.0) or "").startswith("stale (12.0 s old, limit 10 s")
    assert Sample("AIT-101", T0, 7.0, Quality.UNCERTAIN).usable(T0, 10.0)
    bad = Sample("AIT-101", T0, 7.0, Quality.BAD_SENSOR_FAILURE, "instrument status FAILED")
    assert bad.why_unusable(T0, 10.0) == "bad (instrument status FAILED)"


def test_staleness_is_judged_on_receipt_not_on_the_device_stamp() -> None:
    old_stamp = Sample("AIT-101", T0 - timedelta(hours=1), 7.0, received=T0)
    assert old_stamp.usable(T0 + timedelta(seconds=5), 10.0)


def test_the_vote_the_2oo3_trip_and_the_diversion_share_the_boundary() -> None:
    voter = ElectrodeVoter(["A", "B", "C"], VoterSettings(stale_after_s=10.0))
    samples = {n: Sample(n, T0, 7.0) for n in ("A", "B", "C")}
    assert len(voter.update(T0 + timedelta(seconds=10), samples).in_vote) == 3  # 10 s old: all vote
    assert voter.update(T0 + timedelta(seconds=10.5), samples).quality.is_bad  # 10.5 s: all stale, vote lost
    trip = TwoOutOfThree(limit=9.0, above=True, stale_after_s=10.0)
    chans = [Sample("A", T0, 7.0)] * 3
    assert not trip.evaluate(T0 + timedelta(seconds=10), chans)
    assert trip.evaluate(T0 + timedelta(seconds=10.5), chans)  # stale channels count as tripped
    cfg = load_plant("examples/plant.yaml").diversion[0]
    block = DiversionBlock(cfg, EventLog())
    discharge, *others = cfg.ph
    k = 0
    while block.state is not DiversionState.OUTFALL:  # earned by in-spec readings after the dwell
        k += 1
        now = T0 + timedelta(seconds=k)
        for tag in cfg.ph:
            block.on_sample(Sample(tag, now, 7.0))
        block.on_sample(Sample(cfg.holding_level or "", now, 20.0))
        block.execute(now, 1.0)
        assert k < 1000
    last = T0 + timedelta(seconds=k)  # from now on only the discharge electrode falls silent
    for dt, state in ((cfg.stale_after_s, DiversionState.OUTFALL), (cfg.stale_after_s + 0.5, DiversionState.DIVERTING)):
        now = last + timedelta(seconds=dt)
        for tag in (*others, cfg.holding_level or ""):
            block.on_sample(Sample(tag, now, 20.0 if tag == cfg.holding_level else 7.0))
        block.execute(now, 0.5)
        assert block.state is state, (discharge, dt)
