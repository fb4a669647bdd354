"""A step in base dosing: tank mixing + dosing dead time + electrode lag, checked against our own ODE."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from sim.chemistry import N_INVARIANTS as N
from sim.chemistry import Invariants, solve_ph
from sim.model import PlantModel
from sim.params import (
    ChemistryParams,
    InfluentParams,
    PumpParams,
    SensorParams,
    SensorSet,
    SimParams,
    TankParams,
)

LAG_S = 30.0
DEAD_S = 45.0
SP_BEFORE, SP_AFTER = 4.0, 9.0


def _quiet_plant() -> SimParams:
    """Constant influent and temperature, no noise on AIT-101: only the dynamics under test remain."""
    return SimParams(
        tank=TankParams(area_m2=0.6, height_m=2.5, weir_height_m=2.0, weir_coeff_m3_h=60.0,
                        ambient_temp_c=22.0, heat_loss_kw_per_k=0.0, neutralisation_heat_kj_mol=0.0),
        influent=InfluentParams(flow_amplitude_m3_h=0.0, ph_amplitude=0.0, li_amplitude_mg_l=0.0,
                                temp_amplitude_c=0.0, flow_wander_fraction=0.0, ph_wander=0.0,
                                li_wander_fraction=0.0, temp_mean_c=22.0),
        sensors=SensorSet(**{"AIT-101": SensorParams(
            lag_s=LAG_S, noise_sd_eu=0.0, drift_tolerance_eu=0.2, range_low_eu=0.0, range_high_eu=14.0)}),
        chemistry=ChemistryParams(kla_co2_per_h=0.0),  # a closed tank: the test integrates no CO2 exchange
        **{"P-201": PumpParams(capacity_l_h=250.0, reagent_mol_l=6.1, dead_time_s=DEAD_S)},  # type: ignore[arg-type]
    )


def test_step_in_base_dosing_follows_mixing_dead_time_and_lag() -> None:
    params = _quiet_plant()
    model = PlantModel(params, seed=5)
    model.command("P-201.SP", SP_BEFORE)
    model.command("P-201.RUN", 1.0)
    for _ in range(4 * 3600):  # settle: tank residence time is ~20 min
        model.step(1.0)
    start = model.true_state()
    y0 = model.readings()["AIT-101"].value
    assert y0 == pytest.approx(start.ph, abs=0.01), "settled: the electrode agrees with the tank"

    model.command("P-201.SP", SP_AFTER)
    horizon = 1800
    measured = np.empty(horizon)
    for k in range(horizon):
        model.step(1.0)
        measured[k] = model.readings()["AIT-101"].value

    # --- the expected response, integrated here from the plant's equations ---------------------
    tank, inf = params.tank, start.influent
    q_in = inf.flow_m3_h / 3600.0  # m3/s
    c_in = np.array(inf.invariants.as_tuple()) * 1000.0  # mol/m3
    naoh_mol_m3 = 6.1 * 1000.0
    temp = start.temp_c

    def dosing_m3_s(t: float) -> float:
        sp = SP_BEFORE if t < DEAD_S else SP_AFTER  # dead time: the line delivers the old rate first
        return 250.0 * sp / 100.0 / 1000.0 / 3600.0

    def tank_ph(n: np.ndarray, v: float) -> float:
        c = n / v / 1000.0
        return solve_ph(Invariants(*c), temp_c=temp)

    def rhs(t: float, x: np.ndarray) -> np.ndarray:
        v, n, y = x[0], x[1:1 + N], x[1 + N]
        head = max(v / tank.area_m2 - tank.weir_height_m, 0.0)
        q_out = tank.weir_coeff_m3_h * head**1.5 / 3600.0
        dose = dosing_m3_s(t)
        dn = q_in * c_in - q_out * n / v
        dn[0] += dose * naoh_mol_m3
        dv = q_in + dose - q_out
        dy = (tank_ph(n, v) - y) / LAG_S  # first-order electrode
        return np.concatenate(([dv], dn, [dy]))

    x0 = np.concatenate(([start.volume_m3], np.array(start.tank.as_tuple()) * 1000.0 * start.volume_m3, [y0]))
    t_eval = np.arange(1.0, horizon + 1.0)
    first = solve_ivp(rhs, (0.0, DEAD_S), x0, max_step=2.0, rtol=1e-8, atol=1e-10,
                      t_eval=t_eval[t_eval <= DEAD_S])
    second = solve_ivp(rhs, (DEAD_S, horizon), first.y[:, -1] if first.t[-1] == DEAD_S else
                       solve_ivp(rhs, (0.0, DEAD_S), x0, max_step=2.0, rtol=1e-8, atol=1e-10).y[:, -1],
                       max_step=2.0, rtol=1e-8, atol=1e-10, t_eval=t_eval[t_eval > DEAD_S])
    expected = np.concatenate((first.y[1 + N], second.y[1 + N]))

    assert expected[-1] - expected[0] > 1.0, "the step is large enough to test the nonlinear gain"
    # nothing reaches the tank before the dead time has passed
    assert np.max(np.abs(measured[: int(DEAD_S) - 1] - y0)) < 0.005
    # then the electrode follows the mixing response through its lag; the model steps at 1 s, so
    # allow a one-step timing slack (at the steepest point pH moves 0.04 per second) plus 0.02 pH
    padded = np.concatenate(([expected[0]], expected, [expected[-1]]))
    low = np.minimum(np.minimum(padded[:-2], padded[1:-1]), padded[2:]) - 0.02
    high = np.maximum(np.maximum(padded[:-2], padded[1:-1]), padded[2:]) + 0.02
    outside = np.flatnonzero((measured < low) | (measured > high))
    assert outside.size == 0, f"off the expected response at t = {outside[:5] + 1} s"
    np.testing.assert_allclose(measured, expected, atol=0.05)
    # and the lag shows: early on the electrode is behind the true tank pH
    true_now = tank_ph(second.y[1:1 + N, 60], second.y[0, 60])
    assert true_now - expected[int(DEAD_S) + 60] > 0.01
