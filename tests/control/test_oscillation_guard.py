"""The loop-gain guard cuts the gain on a sustained cycle, ignores a single upset, and gives the gain back."""

from __future__ import annotations

import math

from control.oscillation import OscillationGuard
from plantctl.config.models import OscillationGuardConfig


def _run(guard: OscillationGuard, error: list[float]) -> int:
    return sum(guard.update(e, 1.0) for e in error)


def test_a_sustained_cycle_cuts_the_gain_once_per_settle_time_down_to_the_floor() -> None:
    guard = OscillationGuard(OscillationGuardConfig(settle_s=300, floor=0.3))
    cycle = [1.2 * math.sin(2 * math.pi * t / 400.0) for t in range(4000)]  # ±1.2 pH, 400 s period
    cuts = _run(guard, cycle)
    assert cuts >= 2
    assert math.isclose(guard.gain, max(0.6 ** cuts, 0.3))


def test_one_upset_with_an_overshoot_is_not_a_cycle() -> None:
    guard = OscillationGuard(OscillationGuardConfig())
    upset = [1.5 * math.exp(-t / 200.0) for t in range(600)] + [-0.5 * math.exp(-t / 200.0) for t in range(600)] \
        + [0.1 * math.exp(-t / 200.0) for t in range(600)] + [0.0] * 600
    assert _run(guard, upset) == 0 and guard.gain == 1.0


def test_noise_within_the_amplitude_never_cuts_and_a_quiet_plant_gets_its_gain_back() -> None:
    guard = OscillationGuard(OscillationGuardConfig(recover_s=600))
    guard.gain = 0.36
    noise = [0.2 * math.sin(1.3 * t) for t in range(6000)]  # fast, small: not beyond min_amplitude
    assert _run(guard, noise) == 0
    assert guard.gain == 1.0
