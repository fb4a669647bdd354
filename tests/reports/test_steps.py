"""Samples as held steps: a value stands until the next sample or the hold runs out; Bad is no data (pure)."""

from __future__ import annotations

import numpy as np

from plantctl.reports.steps import Series, grid, sample_on


def test_a_value_holds_until_the_next_sample_or_the_hold() -> None:
    s = Series(np.array([0.0, 10.0, 100.0]), np.array([1.0, 2.0, 3.0]), np.array([True, True, True]))
    g = grid(0.0, 130.0, [s], hold_s=30.0, cuts=np.array([]))
    v, ok = sample_on(g, s, 30.0)
    known = {(float(a), float(b)): (float(x) if k else None)
             for a, b, x, k in zip(g.edges[:-1], g.edges[1:], v, ok, strict=True)}
    assert known == {(0.0, 10.0): 1.0, (10.0, 30.0): 2.0, (30.0, 40.0): 2.0, (40.0, 100.0): None,
                     (100.0, 130.0): 3.0}


def test_bad_and_nan_samples_are_unknown() -> None:
    s = Series(np.array([0.0, 5.0, 7.0]), np.array([1.0, np.nan, 4.0]), np.array([True, True, False]))
    g = grid(0.0, 10.0, [s], hold_s=60.0, cuts=np.array([]))
    _v, ok = sample_on(g, s, 60.0)
    assert ok.tolist() == [True, False, False]


def test_no_samples_means_no_data_anywhere() -> None:
    g = grid(0.0, 10.0, [], hold_s=60.0, cuts=np.array([5.0]))
    _v, ok = sample_on(g, Series.empty(), 60.0)
    assert ok.tolist() == [False, False]
