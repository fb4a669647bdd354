"""On-line identification of the buffering from the loop's own dose and the pH's response: it reads the
buffering of a tank it has never seen, refuses what it cannot tell, and rescales the curve only locally."""

from __future__ import annotations

import math
from collections import deque
from datetime import UTC, datetime, timedelta

import pytest

from control.compensation import TitrationCurve
from control.titration_id import BufferFit, BufferIdentifier, rebuffered
from plantctl.config.models import IdentificationConfig
from tests.control.test_titration_id import NOMINAL, degassed

T0 = datetime(2026, 3, 1, tzinfo=UTC)
V_M3, Q_M3_H, MOL_H_PER_PCT = 4.8, 8.0, 15.25
CFG = IdentificationConfig(tank_volume_m3=V_M3, mol_h_per_pct=MOL_H_PER_PCT, dead_time_s=30.0, lag_s=75.0)


def run_tank(true: TitrationCurve, believed: TitrationCurve, dose_of_t: object, hours: float = 2.0,
             x_in: float | None = None, noise: float = 0.0) -> list[BufferFit]:
    """A stirred tank in base equivalents (V dx/dt = n + Q (x_in - x)), its dose through a 30 s line and a
    75 s mixing lag, the pH read off the true curve; the identifier sees only dose, flow and pH."""
    assert callable(dose_of_t)
    ident = BufferIdentifier(CFG)
    x = true.base(6.85)
    x_in = x_in if x_in is not None else x - 50.0 * MOL_H_PER_PCT / Q_M3_H  # 50 % dose holds pH 6.85
    line: deque[float] = deque([50.0] * 30, maxlen=30)
    mixed = 50.0
    fits = []
    for k in range(int(hours * 3600)):
        dose = float(dose_of_t(k))
        line.append(dose)
        mixed += (line[0] - mixed) / 75.0
        n_mmol_s = mixed * MOL_H_PER_PCT / 3.6  # mol/h -> mmol/s
        x += (n_mmol_s / (V_M3 * 1000.0) + Q_M3_H / V_M3 / 3600.0 * (x_in - x))
        ph = true.ph(x) + noise * math.sin(k * 0.7)
        fit = ident.observe(T0 + timedelta(seconds=k), ph, dose, 50.0, Q_M3_H, believed)
        if fit is not None:
            fits.append(fit)
    return fits


def square(amplitude: float, period_s: int) -> object:
    return lambda k: 50.0 + (amplitude if (k // period_s) % 2 else -amplitude)


def test_it_reads_the_buffering_of_a_degassed_tank_that_its_curve_does_not_know() -> None:
    true, believed = degassed(), TitrationCurve(NOMINAL)
    fits = run_tank(true, believed, square(1.25, 600), noise=0.003)
    accepted = [f for f in fits if f.accepted]
    assert len(accepted) >= 6, [f.reason for f in fits]
    for f in accepted:  # the pH swings over a curve that bends: the fit is its chord, within a third
        assert f.slope == pytest.approx(true.slope(f.ph), rel=0.35), f.reason
        assert f.slope < 0.5 * f.curve_slope  # and far from what the curve in use claimed
        assert f.curve_slope == pytest.approx(believed.slope(f.ph))  # and says what the curve in use claimed


def test_a_dose_that_does_not_move_tells_nothing_and_is_refused() -> None:
    fits = run_tank(degassed(), TitrationCurve(NOMINAL), lambda k: 50.0, noise=0.003)
    assert fits and not any(f.accepted for f in fits)
    assert all("excitation" in f.reason for f in fits)


def test_a_fit_far_outside_the_bounds_against_the_curve_in_use_is_refused() -> None:
    # the believed curve claims 50 times the real buffering: a fit that says so is implausible, not adopted
    true = degassed()
    believed = TitrationCurve([(p, b * 50.0) for p, b in true.points])  # bounds 0.1..10
    fits = run_tank(true, believed, square(1.5, 600))
    assert fits and not any(f.accepted for f in fits)
    assert any("implausible" in f.reason for f in fits)


def test_rebuffered_changes_the_buffering_only_near_the_operating_point_and_keeps_its_base() -> None:
    prior = TitrationCurve(NOMINAL)
    cur = rebuffered(prior, 6.85, 0.3, 0.75)
    assert cur.base(6.85) == pytest.approx(prior.base(6.85))  # the controlled variable does not jump
    assert cur.slope(6.85) == pytest.approx(0.3 * prior.slope(6.85), rel=0.15)
    for ph in (3.0, 5.0, 9.0, 11.0):  # outside the band the shape (slope) is the prior's
        assert cur.slope(ph) == pytest.approx(prior.slope(ph), rel=1e-6)
    assert all(b1 > b0 for (_a, b0), (_b, b1) in zip(cur.points, cur.points[1:], strict=False))
    with pytest.raises(ValueError, match="positive"):
        rebuffered(prior, 6.85, -1.0)


def test_a_single_output_loop_on_a_degassed_tank_identifies_and_adopts_its_buffering() -> None:
    from control.events import EventLog, LoopEventKind
    from control.loop import Loop
    from plantctl.config.models import LoopConfig
    from plantctl.samples import Sample

    true = degassed()
    cfg = LoopConfig.model_validate(dict(
        name="PHC-1", pv="AIT-1", mv=["P-1.SP"], setpoint=6.85, setpoint_low=6.0, setpoint_high=8.0,
        kp=8.0, ki=0.008, mode="AUTO", compensation="titration", titration_curve={"points": NOMINAL},
        feedforward={"flow_tag": "FIT-1", "demand_mmol_l": 50.0 * MOL_H_PER_PCT / Q_M3_H,
                     "pct_per_mol_h": 1.0 / MOL_H_PER_PCT},  # 50 %: the steady dose
        identification=CFG.model_dump()))
    log = EventLog()
    loop = Loop(cfg, log, "pH")
    x = true.base(6.85)
    x_in = x - 50.0 * MOL_H_PER_PCT / Q_M3_H
    line: deque[float] = deque([50.0] * 30, maxlen=30)
    mixed = 50.0
    for k in range(3 * 3600):
        now = T0 + timedelta(seconds=k)
        if k % 1200 == 0:  # setpoint steps excite the dose: the operator's, or a bump test's
            loop.set_setpoint(6.6 if (k // 1200) % 2 else 7.1, "engineer", now)
        loop.on_sample(Sample("AIT-1", now, true.ph(x)))
        loop.on_sample(Sample("FIT-1", now, Q_M3_H))
        loop.execute(now, 1.0)
        line.append(loop.output)
        mixed += (line[0] - mixed) / 75.0
        x += mixed * MOL_H_PER_PCT / 3.6 / (V_M3 * 1000.0) + Q_M3_H / V_M3 / 3600.0 * (x_in - x)
    assert loop.buffer_fit is not None and loop.buffer_fit.accepted, loop.buffer_fit
    assert log.of(LoopEventKind.TITRATION_ADOPTED) and loop.titration_identified
    curve = loop.titration_curve
    assert curve is not None and curve.slope(6.85) < 0.6 * TitrationCurve(NOMINAL).slope(6.85)
