"""Diversion: off-spec or unknown discharge pH goes away from the outfall at once; the return waits for
a dwell and a steady in-band reading; a full holding tank is its own state; volumes are counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from control.diversion import DiversionController, DiversionEvent, DiversionSettings, DiversionState
from plantctl.quality import Quality
from plantctl.samples import Sample

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Rig:
    def __init__(self, settings: DiversionSettings | None = None) -> None:
        self.events: list[DiversionEvent] = []
        self.ctl = DiversionController(settings, self.events.append)
        self.t = 0.0
        self.level = 20.0

    def run(self, seconds: int, ph: float | None, flow_l_s: float = 10.0,
            quality: Quality = Quality.GOOD) -> DiversionState:
        for _ in range(seconds):
            self.t += 1.0
            now = T0 + timedelta(seconds=self.t)
            smp = None if ph is None else Sample("AIT-102", now, ph, quality)
            self.ctl.update(now, smp, flow_l_s, 1.0, self.level)
        return self.ctl.state


def test_starts_diverted_and_earns_the_outfall_with_a_steady_good_reading() -> None:
    rig = Rig()
    assert rig.run(300, 7.2) is DiversionState.DIVERTING  # min dwell 300 s from the first period (t = 1 s)
    assert rig.run(1, 7.2) is DiversionState.OUTFALL
    assert rig.ctl.diverted_l == pytest.approx(3000.0) and rig.ctl.outfall_l == pytest.approx(10.0)


def test_off_spec_diverts_in_the_same_period_and_returns_only_after_dwell_and_steady_band() -> None:
    rig = Rig()
    rig.run(400, 7.0)
    assert rig.run(1, 6.1) is DiversionState.DIVERTING  # at once
    assert "below 6.2" in rig.events[-1].reason
    rig.run(200, 7.0)
    assert rig.ctl.state is DiversionState.DIVERTING  # in band 200 s, but the dwell is 300 s
    rig.run(99, 7.0)
    assert rig.ctl.state is DiversionState.DIVERTING
    rig.run(1, 7.0)
    assert rig.ctl.state is DiversionState.OUTFALL


def test_a_ph_hovering_at_the_limit_moves_the_valve_once_not_every_period() -> None:
    rig = Rig()
    rig.run(400, 7.0)
    for k in range(600):
        rig.run(1, 6.15 if k % 7 == 0 else 6.3)  # dips below 6.2 now and then, never back in 6.5-8.5
    assert rig.ctl.state is DiversionState.DIVERTING
    assert rig.ctl.valve_moves == 2  # the first return to the outfall, then one divert


def test_a_bad_or_stale_discharge_ph_diverts() -> None:
    rig = Rig()
    rig.run(400, 7.0)
    rig.run(1, 7.0, quality=Quality.BAD_SENSOR_FAILURE)
    assert rig.ctl.state is DiversionState.DIVERTING and "bad" in rig.events[-1].reason
    rig2 = Rig()
    rig2.run(400, 7.0)
    now = T0 + timedelta(seconds=rig2.t + 30)
    rig2.ctl.update(now, Sample("AIT-102", now - timedelta(seconds=11), 7.0), 10.0, 1.0, 20.0)
    assert rig2.ctl.state is DiversionState.DIVERTING


def test_holding_tank_full_is_the_nowhere_state_and_diversion_resumes_when_it_has_room() -> None:
    rig = Rig()
    rig.run(400, 7.0)
    rig.level = 96.0
    assert rig.run(1, 7.0) is DiversionState.OUTFALL  # in spec: a full holding tank does not matter
    assert rig.run(10, 9.2) is DiversionState.NOWHERE
    assert rig.ctl.stop_feed and "holding tank is full (96 %)" in rig.events[-1].reason
    assert rig.ctl.nowhere_l == pytest.approx(100.0)
    rig.level = 92.0
    assert rig.run(1, 9.2) is DiversionState.NOWHERE  # hysteresis: room again only at 90 %
    rig.level = 89.0
    assert rig.run(1, 9.2) is DiversionState.DIVERTING


def test_settings_need_the_return_band_inside_the_divert_band() -> None:
    with pytest.raises(ValueError, match="inside the divert band"):
        DiversionSettings(divert_low_ph=6.6, return_low_ph=6.5)


@given(st.lists(st.tuples(st.one_of(st.none(), st.floats(0.0, 14.0)), st.booleans(),
                          st.floats(0.0, 100.0)), min_size=1, max_size=400))
def test_off_spec_or_unknown_water_never_goes_to_the_outfall(
        steps: list[tuple[float | None, bool, float]]) -> None:
    ctl = DiversionController()
    s = ctl.settings
    for k, (ph, good, level) in enumerate(steps):
        now = T0 + timedelta(seconds=k)
        smp = None if ph is None else Sample("AIT-102", now, ph, Quality.GOOD if good else Quality.BAD)
        state = ctl.update(now, smp, 5.0, 1.0, level)
        off = ph is None or not good or not s.divert_low_ph <= ph <= s.divert_high_ph
        if off:
            assert state is not DiversionState.OUTFALL
            assert (state is DiversionState.NOWHERE) == ctl.holding_full
    assert ctl.diverted_l + ctl.nowhere_l + ctl.outfall_l == pytest.approx(5.0 * len(steps))
