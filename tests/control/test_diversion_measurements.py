"""XV-410 judges the worst of its discharge measurements: an Uncertain one (T-401's vote down to two
electrodes that disagree) keeps the outfall shut but must never hide the discharge electrode reading off-spec."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from control.diversion import DiversionState
from control.diversion_block import DiversionBlock
from control.events import EventLog
from plantctl.plantfile import load_plant
from plantctl.quality import Quality
from plantctl.samples import Sample

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _at_outfall() -> tuple[DiversionBlock, int]:
    cfg = load_plant("examples/plant.yaml").diversion[0]
    assert cfg.ph == ["AIT-410", "PHC-401"]
    block = DiversionBlock(cfg, EventLog())
    k = 0
    while block.state is not DiversionState.OUTFALL:
        k += 1
        now = T0 + timedelta(seconds=k)
        for tag in cfg.ph:
            block.on_sample(Sample(tag, now, 7.2))
        block.on_sample(Sample("LIT-501", now, 20.0))
        block.execute(now, 1.0)
        assert k < 1000
    return block, k


def _period(block: DiversionBlock, k: int, discharge: float, vote: float, vote_quality: Quality) -> None:
    now = T0 + timedelta(seconds=k)
    block.on_sample(Sample("AIT-410", now, discharge))
    block.on_sample(Sample("PHC-401", now, vote, vote_quality, "the two electrodes left disagree by 1.5 pH"))
    block.on_sample(Sample("LIT-501", now, 20.0))
    block.execute(now, 1.0)


def test_an_uncertain_vote_in_band_does_not_hide_an_off_spec_discharge_electrode() -> None:
    block, k = _at_outfall()
    _period(block, k + 1, 6.2, 7.0, Quality.UNCERTAIN)
    assert block.state is DiversionState.DIVERTING


def test_an_uncertain_measurement_keeps_the_outfall_shut() -> None:
    block, k = _at_outfall()
    _period(block, k + 1, 6.2, 7.0, Quality.GOOD)
    assert block.state is DiversionState.DIVERTING
    for j in range(k + 2, k + 2000):  # both in the return band, but the vote is Uncertain: no return
        _period(block, j, 7.2, 7.0, Quality.UNCERTAIN)
    assert block.state is DiversionState.DIVERTING
    for j in range(k + 2000, k + 2400):
        _period(block, j, 7.2, 7.0, Quality.GOOD)
    assert block.state is DiversionState.OUTFALL


def _voted(block: DiversionBlock, k: int, discharge: float | None, vote: float, in_vote: int) -> None:
    now = T0 + timedelta(seconds=k)
    block.on_sample(Sample("AIT-410", now, 0.0, Quality.BAD_SENSOR_FAILURE, "instrument status FAILED")
                    if discharge is None else Sample("AIT-410", now, discharge))
    block.on_vote(Sample("PHC-401", now, vote), in_vote)
    block.on_sample(Sample("LIT-501", now, 20.0))
    block.execute(now, 1.0)


def test_a_failed_discharge_electrode_is_outvoted_by_three_agreeing_electrodes_but_not_by_two() -> None:
    block, k = _at_outfall()
    _voted(block, k + 1, None, 7.0, 3)
    assert block.state is DiversionState.OUTFALL and "AIT-410 bad" in block.outvoted["AIT-410"]
    _voted(block, k + 2, None, 6.1, 3)  # the vote itself off-spec: diverts, whatever AIT-410 says
    assert block.state is DiversionState.DIVERTING
    block, k = _at_outfall()
    _voted(block, k + 1, None, 7.0, 2)  # only two in the vote: not enough to overrule anyone
    assert block.state is DiversionState.DIVERTING and not block.outvoted


def test_a_disagreeing_discharge_electrode_diverts_until_it_is_outvoted_after_the_delay() -> None:
    block, k = _at_outfall()
    delay = int(load_plant("examples/plant.yaml").diversion[0].outvote.delay_s)  # type: ignore[union-attr]
    _voted(block, k + 1, 6.0, 7.0, 3)  # off-spec on the discharge electrode alone: diverts at once
    assert block.state is DiversionState.DIVERTING and not block.outvoted
    for j in range(k + 2, k + 2 + delay):
        _voted(block, j, 6.0, 7.0, 3)
    assert "AIT-410" in block.outvoted
    for j in range(k + 2 + delay, k + 2 + delay + 600):  # judged on the vote alone: the outfall reopens
        _voted(block, j, 6.0, 7.0, 3)
    assert block.state is DiversionState.OUTFALL
    j = k + 2 + delay + 600
    _voted(block, j, 6.8, 7.0, 3)  # back within half the limit: it counts again
    assert not block.outvoted
