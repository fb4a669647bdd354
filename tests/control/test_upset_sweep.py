"""The unseen-upset generator: every class draws valid, reproducible scenarios within its stated ranges."""

from __future__ import annotations

import pytest

from plantctl.tools.upset_sweep import CLASSES, SweepRun, draw, summarise
from sim.scenario import PumpEvent, SensorEvent, ShockEvent

WARM, WINDOW = 1800.0, 3 * 3600.0


@pytest.mark.parametrize("cls", list(CLASSES))
def test_each_class_draws_reproducible_upsets_after_the_warm_up(cls: str) -> None:
    seen = set()
    for seed in range(25):
        upset, start_h = draw(cls, seed, WARM, WINDOW)
        again, start_again = draw(cls, seed, WARM, WINDOW)
        assert (upset, start_h) == (again, start_again)  # a seed names one scenario
        assert 0.0 <= start_h < 24.0 and upset.cls == cls and upset.events
        assert all(e.at >= WARM for e in upset.events)  # nothing happens in the uncounted warm-up
        seen.add((upset.what, start_h, tuple(e.at for e in upset.events)))
    assert len(seen) > 20  # seeds differ


def test_slugs_and_spills_stay_within_their_classes() -> None:
    for seed in range(50):
        for cls, lo, hi in (("acid-slug", 1.0, 2.5), ("alkaline-spill", 10.0, 12.5)):
            [ev] = draw(cls, seed, WARM, WINDOW)[0].events
            assert isinstance(ev, ShockEvent) and ev.shock_load.ph is not None
            assert lo <= ev.shock_load.ph <= hi and 600 <= ev.shock_load.duration_s <= 5400


def test_faults_strike_every_electrode_pump_and_meter_of_their_class() -> None:
    sensors = {e.sensor for cls in ("electrode-one", "electrode-two", "flowmeter") for s in range(60)
               for e in draw(cls, s, WARM, WINDOW)[0].events if isinstance(e, SensorEvent)}
    assert {"AIT-101", "AIT-104", "AIT-105", "AIT-401", "AIT-402", "AIT-403", "FIT-201", "FIT-401"} <= sensors
    pumps = {e.pump for s in range(30) for e in draw("pump-loss", s, WARM, WINDOW)[0].events
             if isinstance(e, PumpEvent)}
    assert pumps == {"P-201", "P-401"}


def test_the_summary_counts_per_class() -> None:
    runs = [SweepRun("a", 0, 1.0, "", 0.0, 0.01, 10.0, 0.0, 0.0, 1.0),
            SweepRun("a", 1, 2.0, "", 5.0, 0.03, 30.0, 0.0, 0.0, 1.0)]
    assert summarise(runs)["a"] == {"runs": 2, "offspec_l": 5.0, "offspec_l_max": 5.0, "runs_offspec": 1,
                                    "diverted_fraction_max": 0.03, "t401_out_of_band_s_max": 30.0,
                                    "t401_out_of_band_s_mean": 20.0}
