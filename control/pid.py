"""The PID core: simple-pid 2.0 timed by the loop (dt passed in), with tracking for bumpless transfer.

simple-pid clamps its integral to the output limits only (LIBRARIES.md); every other constraint
downstream (rate limit, interlock, split-range side stopped) is fed back with `track()`
(back-calculation), so the integral never winds up against an output that is not applied.
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
        self._limits = (output_low, output_high)  # of the PID part: shifted by set_bias
        self._gains = (kp, ki, kd)

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

    def stop(self) -> None:
        """Stop computing (MAN, fail-safe): no integral action until `start()`."""
        self._pid.set_auto_mode(False)

    def update(self, pv: float, dt_s: float, gain_factor: float = 1.0) -> float:
        """One PID step on `pv` over dt_s; `gain_factor` scales the gains (gain scheduling)."""
        kp, ki, kd = self._gains
        self._pid.tunings = (kp * gain_factor, ki * gain_factor, kd * gain_factor)
        out = self._pid(pv, dt=dt_s)
        assert out is not None  # auto mode always computes
        return float(out)

    def proportional_and_derivative(self) -> float:
        p, _i, d = self._pid.components
        return float(p) + float(d)

    def set_bias(self, bias: float) -> None:
        """Limit the PID part so that it plus `bias` (the feedforward) stays within the output limits.

        With fixed limits the PID could take back at most `output_low` of a feedforward that
        over-doses; shifted limits let feedback correct the feedforward whole, and keep the integral
        from winding up against the total's limits.
        """
        self._limits = (self._low - bias, self._high - bias)
        self._pid.output_limits = self._limits

    def _clamp(self, value: float) -> float:
        lo, hi = self._limits
        return min(max(value, lo), hi)

    def track(self, applied: float) -> None:
        """Back-calculate the integral so P + I + D equals the output actually applied (anti-windup)."""
        target = applied - self.proportional_and_derivative()
        # simple-pid 2.0 has no public integral setter; _integral / _last_output are its state (pid.py).
        setattr(self._pid, "_integral", self._clamp(target))  # noqa: B010
        setattr(self._pid, "_last_output", applied)  # noqa: B010

    def seed_integral(self, value: float) -> None:
        """Set the integral directly: a restore after a restart, or freezing it while the rate limit holds."""
        setattr(self._pid, "_integral", self._clamp(value))  # noqa: B010

    def shift_integral(self, delta: float) -> None:
        """Move part of the integral elsewhere (into the feedforward gain), keeping the total unchanged."""
        setattr(self._pid, "_integral", self._clamp(self.integral + delta))  # noqa: B010
