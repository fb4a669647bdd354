"""The lost-scan count of docs/reliability.md on hand-made stamp series (pure logic, no processes)."""

from __future__ import annotations

from tests.chaos.measures import missing_scans


def test_a_scan_every_period_loses_nothing() -> None:
    assert missing_scans([0.5, 1.5, 2.5, 3.5], 0.0, 4.0, 1.0) == 0


def test_jitter_within_half_a_period_is_not_a_lost_scan() -> None:
    assert missing_scans([0.5, 1.9, 2.5, 3.5], 0.0, 4.0, 1.0) == 0


def test_each_missing_scan_counts_once() -> None:
    assert missing_scans([0.5, 1.5, 4.5, 5.5], 0.0, 6.0, 1.0) == 2   # 2.5 and 3.5 missing


def test_missing_scans_at_the_window_edges_count_with_one_scan_of_allowance() -> None:
    # 0.5, 1.5 before and 4.5, 5.5 after are missing; an edge is not a sample, so one per edge is allowed
    assert missing_scans([2.5, 3.5], 0.0, 6.0, 1.0) == 2


def test_excused_time_is_taken_out_of_the_gap() -> None:
    assert missing_scans([0.5, 1.5, 6.5, 7.5], 0.0, 8.0, 1.0, excused=[(2.0, 6.0)]) == 0
    assert missing_scans([0.5, 1.5, 6.5, 7.5], 0.0, 8.0, 1.0, excused=[(3.0, 6.0)]) == 1   # 2.5 not excused


def test_samples_outside_the_window_are_ignored() -> None:
    assert missing_scans([-5.0, 0.5, 1.5, 9.0], 0.0, 2.0, 1.0) == 0


def test_nothing_stored_in_the_window_is_every_scan_but_one_lost() -> None:
    assert missing_scans([], 0.0, 4.0, 1.0) == 3
