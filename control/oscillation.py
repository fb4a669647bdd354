"""Loop-gain guard: a pH loop that starts to cycle has more process gain than its tuning assumed.

The titration compensation maps pH to base equivalents with the curve it was given; when the
plant's buffering falls (carbonate stripped, a degassed raffinate), each mmol/L moves the pH
several times further than the curve says and the loop, tuned on the curve, cycles between the
interlocks. The guard watches the error for the signature of that — sustained half-cycles of
alternating sign, each beyond an amplitude — and cuts the loop gain by a factor each time it sees
it; a single upset (one excursion, one overshoot) is not a cycle and is left alone. After a quiet
period the gain creeps back toward the tuned one, so a return of the buffer is followed too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from plantctl.config.models import OscillationGuardConfig


@dataclass
class OscillationGuard:
    """Tracks half-cycles of the control error and keeps a gain multiplier in [floor, 1]."""

    cfg: OscillationGuardConfig
    gain: float = 1.0
    _sign: int = 0  # the current half-cycle's sign (0: none yet)
    _peak: float = 0.0
    _peaks: list[float] = field(default_factory=list)  # completed half-cycles' peaks, newest last
    _quiet_s: float = 0.0
    _since_cut_s: float = 0.0
    cuts: int = 0

    def update(self, error: float, dt_s: float) -> bool:
        """One period's error (setpoint − PV, in the PV's unit); True when the gain was cut now."""
        c = self.cfg
        self._quiet_s += dt_s
        self._since_cut_s += dt_s
        sign = 1 if error > c.hysteresis else -1 if error < -c.hysteresis else 0
        if sign != 0 and sign != self._sign:
            if self._sign != 0:  # a half-cycle ended
                self._peaks.append(self._peak)
                self._peaks = self._peaks[-c.half_cycles:]
            self._sign, self._peak = sign, 0.0
        self._peak = max(self._peak, abs(error))
        if self._peak > c.min_amplitude:
            self._quiet_s = 0.0
        cut = False
        if len(self._peaks) >= c.half_cycles and min(self._peaks) > c.min_amplitude \
                and self._since_cut_s >= c.settle_s:
            self.gain = max(self.gain * c.factor, c.floor)
            self._peaks.clear()
            self._since_cut_s = 0.0
            self.cuts += 1
            cut = True
        elif self._quiet_s >= c.recover_s and self.gain < 1.0:
            self.gain = min(self.gain / c.factor ** 0.5, 1.0)
            self._quiet_s = 0.0
        return cut
