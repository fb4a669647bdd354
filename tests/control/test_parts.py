"""Pure parts: scheduler arithmetic and jitter, FOPDT fit and SIMC, titration curve, config checks."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import numpy as np
import pytest

from control.compensation import TitrationCurve, identify_curve
from control.scheduler import PeriodicSchedule, Tick, run_periodic
from control.split_range import PumpDemand, SplitRange
from plantctl.clock import VirtualClock
from plantctl.config import ConfigError
from plantctl.plantfile import load_plant
from plantctl.tools.tuning import Fopdt, TuningReport, fit_fopdt, propose_pi


def test_schedule_deadlines_are_absolute_so_lateness_does_not_accumulate() -> None:
    s = PeriodicSchedule(1.0, t0_s=100.0)
    starts = [100.0, 101.3, 102.3, 103.05]  # each tick late, but the next deadline stays on the grid
    ticks = [s.begin(t) for t in starts]
    assert [t.deadline_s for t in ticks] == [100.0, 101.0, 102.0, 103.0]
    assert s.next_deadline_s == 104.0
    assert s.missed_total == 0


def test_a_late_ticks_missed_count_is_the_jump_to_the_next_index() -> None:
    """Regression: under load tick 1 started 1.13 periods late; its `missed` covers deadline 2, skipped."""
    s = PeriodicSchedule(0.01, t0_s=0.0)
    a, b, c = s.begin(0.0000054), s.begin(0.0213), s.begin(0.0301)
    assert (a.index, a.missed, b.index, b.missed, c.index) == (0, 0, 1, 1, 3)
    assert c.index == b.index + 1 + b.missed


def test_schedule_counts_missed_periods_instead_of_bursting_to_catch_up() -> None:
    s = PeriodicSchedule(0.1, t0_s=0.0)
    s.begin(0.0)
    tick = s.begin(0.55)  # due at 0.1; 0.2 … 0.5 passed while it was blocked
    assert tick.missed == 4
    assert s.next_deadline_s == pytest.approx(0.6)
    assert s.missed_total == 4


def test_run_periodic_keeps_the_period_on_the_event_loop_clock() -> None:
    ticks: list[Tick] = []

    async def main() -> None:
        stop = asyncio.Event()

        def work(tick: Tick) -> None:
            ticks.append(tick)
            if len(ticks) == 20:
                stop.set()

        await run_periodic(0.01, work, stop)

    asyncio.run(main())
    d0 = ticks[0].deadline_s
    for prev, tick in itertools.pairwise(ticks):
        # every deadline sits on the grid d0 + k·period; a tick that starts late skips (and counts, in its
        # own `missed`) the deadlines it overran, so the next tick's index jumps by that many
        assert tick.deadline_s - d0 == pytest.approx(tick.index * 0.01, abs=1e-9)
        assert tick.index == prev.index + 1 + prev.missed
    assert all(t.lateness_s >= 0 for t in ticks)


def test_run_periodic_in_virtual_time_ticks_on_the_grid_and_skips_what_an_overrun_missed() -> None:
    """Ten minutes of a 1 s schedule in virtual time: exact instants, no wall-clock tolerance."""
    clock = VirtualClock(start_s=1000.0)
    ticks: list[Tick] = []

    async def main() -> PeriodicSchedule:
        stop = asyncio.Event()

        def work(tick: Tick) -> None:
            ticks.append(tick)
            if tick.index == 3:
                clock.elapse(2.5)  # this tick's work costs 2.5 s: deadline 4 is passed, 5 is missed

        task = asyncio.create_task(run_periodic(1.0, work, stop, clock))
        await clock.advance(600.0)
        stop.set()
        return await asyncio.wait_for(task, 1.0)

    sched = asyncio.run(main())
    # tick 4 runs late, as soon as tick 3 returns; 5 is skipped and counted; 6 is back on the grid
    assert [t.started_s for t in ticks[:6]] == [1000.0, 1001.0, 1002.0, 1003.0, 1005.5, 1006.0]
    assert [(t.index, t.missed) for t in ticks[3:6]] == [(3, 0), (4, 1), (6, 0)]
    assert [t.lateness_s for t in ticks if t.lateness_s != 0.0] == [1.5]
    assert ticks[4].dt_s == 2.5 and sched.missed_total == 1
    assert len(ticks) == 600 and ticks[-1].started_s == 1600.0


def test_run_periodic_stops_when_told_without_waiting_for_its_next_deadline() -> None:
    clock = VirtualClock()

    async def main() -> list[Tick]:
        stop = asyncio.Event()
        seen: list[Tick] = []
        task = asyncio.create_task(run_periodic(600.0, seen.append, stop, clock))
        await clock.advance(1.0)
        stop.set()
        await asyncio.wait_for(task, 1.0)  # virtual time no longer moves: only the stop can end it
        return seen

    assert [t.index for t in asyncio.run(main())] == [0]


def test_fopdt_fit_recovers_a_known_process_and_simc_gives_the_textbook_gains() -> None:
    true = Fopdt(gain=2.5, tau_s=300.0, dead_time_s=40.0, rms_residual=0.0)
    t = np.arange(0.0, 1500.0, 1.0)
    rng = np.random.default_rng(3)
    y = true.response(t, 2.0) + rng.normal(0.0, 0.02, t.size)
    fit = fit_fopdt(t, y, 2.0)
    assert fit.gain == pytest.approx(2.5, rel=0.03)
    assert fit.tau_s == pytest.approx(300.0, rel=0.05)
    assert fit.dead_time_s == pytest.approx(40.0, abs=3.0)
    pi = propose_pi(Fopdt(2.5, 300.0, 40.0, 0.0), "simc")
    assert pi.kc == pytest.approx(300.0 / (2.5 * 80.0))  # Skogestad 2003 eq. (25), tau_c = theta
    assert pi.ti_s == pytest.approx(300.0)  # min(tau, 4(tau_c + theta)) = min(300, 320)
    lam = propose_pi(Fopdt(2.5, 300.0, 40.0, 0.0), "lambda", 200.0)
    assert lam.kc == pytest.approx(300.0 / (2.5 * 240.0)) and lam.ti_s == 300.0


def test_a_near_integrating_step_response_is_reported_as_a_slope_and_gets_simc_integrating_gains() -> None:
    """A tank whose τ is hours, stepped for 20 min: K and τ are not identified apart, K/τ is."""
    slope, theta, step = 4e-3, 35.0, 1.0  # CV per %·s
    t = np.arange(0.0, 1200.0, 60.0)
    rng = np.random.default_rng(5)
    y = slope * step * np.clip(t - theta, 0.0, None) + rng.normal(0.0, 0.01, t.size)
    fit = fit_fopdt(t, y, step)
    assert fit.gain / fit.tau_s == pytest.approx(slope, rel=0.05)
    pi = propose_pi(fit, "simc")
    tc = max(fit.dead_time_s, 1e-3)
    assert pi.kc == pytest.approx(1.0 / (slope * 2.0 * tc), rel=0.1)  # Skogestad 2003, integrating process
    assert pi.ti_s == pytest.approx(8.0 * tc)  # 4 (tau_c + theta)
    report = TuningReport("L-1", "none", "pH", 7.0, step, fit, pi, 1.0, 0.01, observed_s=1200.0)
    assert report.near_integrating and "near-integrating over the 1200 s test, slope K/tau = " in str(report)
    assert ", tau =" not in str(report)
    honest = TuningReport("L-1", "none", "pH", 7.0, step, Fopdt(2.5, 300.0, 40.0, 0.0), pi, 1.0, 0.01,
                          observed_s=1500.0)
    assert not honest.near_integrating and "tau = 300 s" in str(honest)


def test_titration_curve_is_monotone_invertible_and_extends_beyond_its_points() -> None:
    c = TitrationCurve([(2.0, -10.0), (4.0, 5.0), (7.0, 9.0), (9.0, 9.5), (12.0, 20.0)])
    ph = np.linspace(1.0, 13.0, 200)
    base = np.array([c.base(p) for p in ph])
    assert np.all(np.diff(base) > 0)
    for p in (1.5, 3.0, 7.5, 8.9, 12.5):
        assert c.ph(c.base(p)) == pytest.approx(p, abs=1e-6)
    assert c.slope(8.0) < c.slope(3.0)  # the flat (poorly buffered) part has the smaller slope


def test_identify_curve_from_noisy_plant_data_follows_the_true_curve() -> None:
    true = TitrationCurve([(2.0, -10.0), (4.0, 5.0), (7.0, 9.0), (9.0, 9.5), (12.0, 20.0)])
    rng = np.random.default_rng(1)
    base = rng.uniform(-8.0, 18.0, 400)
    ph = np.array([true.ph(b) for b in base]) + rng.normal(0.0, 0.05, base.size)
    found = identify_curve(ph, base)
    for p in (3.0, 5.0, 8.0, 10.0):
        assert found.base(p) == pytest.approx(true.base(p), abs=0.6)


def test_split_range_inverse_gives_back_the_output() -> None:
    sr = SplitRange(dead_band_pct=1.0, low_side_gain=25.0)
    for u in (-3.0, -0.9, 2.0, 50.0):
        assert sr.output_for(sr.split(u)) == pytest.approx(u)
    assert sr.split(0.3) == PumpDemand(0.0, 0.0)


BAD_LOOP = """
loops:
  - name: PHC-101
    pv: AIT-101
    mv: [P-201.SP, P-202.SP]
    setpoint: 7.0
    setpoint_low: 6.5
    setpoint_high: 8.5
    kp: 1.0
    output_low: -4
    compensation: titration
    feedforward: {flow_tag: FIT-999, demand_mmol_l: 10, pct_per_mol_h: 0.06}
    interlocks:
      - {name: IL-1, tag: NOPE-1, above: 9}
"""


def _plant_with_loops(tmp_path: Path, loops: str) -> Path:
    text = Path("examples/plant.yaml").read_text(encoding="utf-8")
    start, end = text.index("loops:\n"), text.index("alarms:\n")
    p = tmp_path / "plant.yaml"
    p.write_text(text[:start] + loops.lstrip("\n") + "\n" + text[end:], encoding="utf-8")
    return p


def test_loop_config_errors_name_the_line_and_the_field(tmp_path: Path) -> None:
    bad = _plant_with_loops(tmp_path, BAD_LOOP)
    with pytest.raises(ConfigError) as exc:
        load_plant(bad)
    text = str(exc.value)
    lines = bad.read_text(encoding="utf-8").splitlines()
    item_line = next(i for i, ln in enumerate(lines, 1) if "- name: PHC-101" in ln)
    assert f"plant.yaml:{item_line}: loops.0: compensation titration needs titration_curve" in text


def test_loop_config_unknown_tags_are_reported_with_their_lines(tmp_path: Path) -> None:
    loops = BAD_LOOP.replace("    compensation: titration\n", "")
    bad = _plant_with_loops(tmp_path, loops)
    with pytest.raises(ConfigError) as exc:
        load_plant(bad)
    lines = bad.read_text(encoding="utf-8").splitlines()
    ff_line = next(i for i, ln in enumerate(lines, 1) if "FIT-999" in ln)
    il_line = next(i for i, ln in enumerate(lines, 1) if "NOPE-1" in ln)
    text = str(exc.value)
    assert f"plant.yaml:{ff_line}: loops.0.feedforward.flow_tag: unknown tag 'FIT-999'" in text
    assert f"plant.yaml:{il_line}: loops.0.interlocks.0.tag: unknown tag 'NOPE-1'" in text


def test_shipped_example_loop_loads() -> None:
    plant = load_plant("examples/plant.yaml")
    loop = plant.loops[0]
    assert loop.compensation.value == "titration" and loop.feedforward is not None
    assert {i.name for i in loop.interlocks} >= {"PHC-101.IL-PH-HH", "PHC-101.IL-LEVEL-LL"}
