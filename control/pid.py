"""The PID core: simple-pid 2.0 through its public API, timed by the loop (dt passed in), with tracking.

simple-pid clamps its integral to the output limits only (LIBRARIES.md); every other constraint
downstream (rate limit, interlock, split-range side stopped) is fed back with `track()`
(back-calculation), so the integral never winds up against an output that is not applied.
simple-pid has no integral setter: the integral is set by `set_auto_mode(True, last_output=...)`,
which also clears the derivative history; that history is put back by one call with zero gains,
which moves no term but records the last measurement.
"""

from __future__ import annotations

from simple_pid import PID


class PidCore:
    """PID with derivative on measurement, its own timing, and integral tracking of the applied output."""

    def __init__(self, kp: float, ki: float, kd: float, setpoint: float,
                 output_low: float, output_high: float) -> None:
        self._pid = PID(kp, ki, kd, setpoint=setpoint, sample_time=None,
                        output_limits=(output_low, output_high),
                        differential_on_measurement=True, auto_mode=False)
        self._low, self._high = output_low, output_high
        self._gains = (kp, ki, kd)
        self._p_plus_d = 0.0  # P + D of the last update (0 after a start), what tracking keeps
        self._last_pv: float | None = None  # the derivative history simple-pid holds, to put back

    @property
    def setpoint(self) -> float:
        return float(self._pid.setpoint)

    @setpoint.setter
    def setpoint(self, value: float) -> None:
        self._pid.setpoint = value

    @property
    def tunings(self) -> tuple[float, float, float]:
        return self._gains

    def set_tunings(self, kp: float, ki: float, kd: float) -> None:
        """Change gains without a bump: simple-pid stores the integral as output, not as error sum."""
        self._gains = (kp, ki, kd)
        self._pid.tunings = self._gains

    @property
    def integral(self) -> float:
        return float(self._pid.components[1])

    @property
    def active(self) -> bool:
        return bool(self._pid.auto_mode)

    def start(self, output: float) -> None:
        """Begin computing from `output` (MAN→AUTO): integral = output, no history, so no D kick."""
        self._pid.set_auto_mode(False)
        self._pid.set_auto_mode(True, last_output=output)
        self._p_plus_d = 0.0
        self._last_pv = None

    def stop(self) -> None:
        """Stop computing (MAN, fail-safe): no integral action until `start()`."""
        self._pid.set_auto_mode(False)

    def update(self, pv: float, dt_s: float, gain_factor: float = 1.0) -> float:
        """One PID step on `pv` over dt_s; `gain_factor` scales the gains (gain scheduling)."""
        kp, ki, kd = self._gains
        self._pid.tunings = (kp * gain_factor, ki * gain_factor, kd * gain_factor)
        out = self._pid(pv, dt=dt_s)
        assert out is not None  # auto mode always computes
        p, _i, d = self._pid.components
        self._p_plus_d = float(p) + float(d)
        self._last_pv = pv
        return float(out)

    def proportional_and_derivative(self) -> float:
        return self._p_plus_d

    def set_bias(self, bias: float) -> None:
        """Limit the PID part so that it plus `bias` (the feedforward) stays within the output limits.

        With fixed limits the PID could take back at most `output_low` of a feedforward that
        over-doses; shifted limits let feedback correct the feedforward whole, and keep the integral
        from winding up against the total's limits.
        """
        self._pid.output_limits = (self._low - bias, self._high - bias)

    def track(self, applied: float) -> None:
        """Back-calculate the integral so P + I + D equals the output actually applied (anti-windup)."""
        self.seed(applied - self._p_plus_d)

    def seed(self, value: float) -> None:
        """Set the integral directly: a restore after a restart, or freezing it while the rate limit holds."""
        if not self.active:
            return
        self._pid.set_auto_mode(False)
        self._pid.set_auto_mode(True, last_output=value)  # clamped to the limits by simple-pid
        if self._last_pv is not None:  # put the derivative history back: a call that moves no term
            gains = self._pid.tunings
            self._pid.tunings = (0.0, 0.0, 0.0)
            self._pid(self._last_pv, dt=1.0)
            self._pid.tunings = gains

    def shift(self, delta: float) -> None:
        """Move part of the integral elsewhere (into the feedforward gain), keeping the total unchanged."""
        self.seed(self.integral + delta)
