"""On-line titration-curve identification: follows a change of buffering from plant steady states, takes
an engineer's lab titration, forgets old data, and always gives a strictly monotone curve."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from control.compensation import TitrationCurve
from control.titration_id import TitrationEstimator, isotonic

T0 = datetime(2026, 3, 1, tzinfo=UTC)
NOMINAL = [(1.5, -50.217), (2.0, -17.651), (2.5, 0.0), (3.0, 8.322), (3.5, 11.483), (4.0, 12.562),
           (4.5, 12.944), (5.0, 13.169), (5.5, 13.528), (6.0, 14.279), (6.5, 15.39), (7.0, 16.319),
           (7.5, 16.791), (8.0, 16.981), (8.5, 17.082), (9.0, 17.227), (9.5, 17.587), (10.0, 18.402),
           (10.5, 19.686), (11.0, 21.137), (12.0, 28.886)]


def degassed() -> TitrationCurve:
    """The nominal influent with its carbonate stripped: a fifth of the buffering between pH 5 and 9."""
    pts = [NOMINAL[0]]
    for (p0, b0), (p1, b1) in itertools.pairwise(NOMINAL):
        step = (b1 - b0) * (0.2 if 5.0 <= p0 < 9.0 else 1.0)
        pts.append((p1, pts[-1][1] + step))
    return TitrationCurve(pts)


def test_plant_steady_states_take_the_curve_to_the_new_buffering_whatever_the_offset() -> None:
    prior, true = TitrationCurve(NOMINAL), degassed()
    est = TitrationEstimator(prior)
    for k in range(200):  # steady states across 4..10 over 3 h, seen with an unknown offset
        ph = 4.0 + 6.0 * ((k * 37) % 200) / 200.0
        est.add_plant_point(T0 + timedelta(seconds=54 * k), ph, true.base(ph) - 7.5)
    now = T0 + timedelta(hours=3)
    cur = est.curve(now)
    for ph in (6.0, 7.0, 8.0):
        assert cur.slope(ph) == pytest.approx(true.slope(ph), rel=0.3), ph
        assert abs(cur.slope(ph) - true.slope(ph)) < 0.5 * abs(prior.slope(ph) - true.slope(ph))
    # The offset is not identifiable against the prior's level; the buffering between two pHs is.
    def buffer(c: TitrationCurve) -> float:
        return c.base(8.5) - c.base(5.5)

    assert abs(buffer(cur) - buffer(true)) < 0.1 * abs(buffer(prior) - buffer(true))  # 90 % of the way


def test_a_single_operating_point_moves_only_the_offset_not_the_shape() -> None:
    prior = TitrationCurve(NOMINAL)
    est = TitrationEstimator(prior)
    for k in range(100):
        est.add_plant_point(T0 + timedelta(minutes=k), 6.85, 4.0)
    cur = est.curve(T0 + timedelta(minutes=100))
    for ph in (3.0, 6.0, 7.0, 9.0):
        assert cur.base(ph) == pytest.approx(prior.base(ph), abs=0.05)


def test_a_lab_titration_entered_by_an_engineer_takes_over_and_old_data_is_forgotten() -> None:
    prior, true = TitrationCurve(NOMINAL), degassed()
    est = TitrationEstimator(prior, memory_s=3600.0)
    est.add_lab_titration(T0, [(p, true.base(p)) for p in (3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0)])
    cur = est.curve(T0)
    assert cur.base(7.0) == pytest.approx(true.base(7.0), abs=0.2)
    # Ten memories later the buffering is back to nominal: a new titration says so and wins.
    later = T0 + timedelta(hours=10)
    est.add_lab_titration(later, [(p, prior.base(p)) for p in (3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0)])
    assert est.curve(later).base(7.0) == pytest.approx(prior.base(7.0), abs=0.05)


def test_steady_windows_of_the_running_plant_become_plant_points() -> None:
    est = TitrationEstimator(TitrationCurve(NOMINAL), steady_window_s=600.0)
    added = [est.observe(T0 + timedelta(seconds=k), 6.85 + 0.01 * (k % 3), 120.0, 8.0) for k in range(1300)]
    assert sum(added) == 2  # one point per steady 10-min window
    unsteady = TitrationEstimator(TitrationCurve(NOMINAL))
    assert not any(unsteady.observe(T0 + timedelta(seconds=k), 6.0 + k / 600.0, 120.0, 8.0) for k in range(1300))


def test_lab_points_outside_0_14_are_refused() -> None:
    with pytest.raises(ValueError, match=r"not a pH in 0\.\.14"):
        TitrationEstimator(TitrationCurve(NOMINAL)).add_lab_titration(T0, [(15.0, 3.0)])


@given(st.lists(st.floats(-100, 100, allow_nan=False), min_size=1, max_size=30),
       st.lists(st.floats(0.01, 10), min_size=30, max_size=30))
def test_isotonic_fit_is_non_decreasing_and_keeps_the_weighted_mean(values: list[float], w: list[float]) -> None:
    weights = w[:len(values)]
    fit = isotonic(values, weights)
    assert all(a <= b + 1e-9 for a, b in itertools.pairwise(fit))
    assert sum(f * x for f, x in zip(fit, weights, strict=True)) == pytest.approx(
        sum(v * x for v, x in zip(values, weights, strict=True)), rel=1e-6, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 14.0), st.floats(-200.0, 200.0), st.booleans(),
                          st.integers(0, 20 * 3600)), min_size=0, max_size=60))
def test_whatever_the_data_the_curve_is_strictly_monotone_and_invertible(
        data: list[tuple[float, float, bool, int]]) -> None:
    est = TitrationEstimator(TitrationCurve(NOMINAL))
    for ph, base, lab, t in data:
        ts = T0 + timedelta(seconds=t)
        if lab:
            est.add_lab_titration(ts, [(ph, base)])
        else:
            est.add_plant_point(ts, ph, base)
    cur = est.curve(T0 + timedelta(hours=20))
    pts = cur.points
    assert all(b1 > b0 for (_p0, b0), (_p1, b1) in itertools.pairwise(pts))
    for ph in (2.0, 6.85, 11.0):
        assert cur.ph(cur.base(ph)) == pytest.approx(ph, abs=1e-6)


def test_the_ph_law_adopts_an_identified_curve_without_a_bump() -> None:
    from control.events import EventLog
    from control.loop import Loop
    from control.ph_law import PhLaw
    from plantctl.config.models import LoopConfig
    from plantctl.samples import Sample

    cfg = LoopConfig.model_validate(dict(
        name="PHC-101", pv="AIT-101", mv=["P-201.SP"], setpoint=7.0, setpoint_low=6.0, setpoint_high=8.0,
        kp=16.0, ki=0.06, mode="AUTO", compensation="titration", titration_curve={"points": NOMINAL}))
    loop = Loop(cfg, EventLog(), "pH")
    outputs = []
    for k in range(1, 121):
        now = T0 + timedelta(seconds=k)
        loop.on_sample(Sample("AIT-101", now, 6.6))
        if k == 60:
            assert isinstance(loop.law, PhLaw)
            loop.law.adopt_curve(degassed())
        loop.execute(now, 1.0)
        outputs.append(loop.output)
    step = outputs[59] - outputs[58]  # k = 60, the first period on the new curve
    ramp = outputs[58] - outputs[57]  # the integral's own slope before it
    assert abs(step) < 2 * abs(ramp) + 1e-6
    assert loop.compensator.curve is not None and loop.compensator.curve.slope(7.0) == pytest.approx(
        degassed().slope(7.0))
