"""Squeeze and shift: a loop that holds its PV tightly may run closer to the limit it pays to stay away from.

A discharge stage dosing soda ash spends less the lower its pH (below pH 7 more of the carbonate leaves
as CO2, which took two H+ instead of one), but its setpoint is chosen with room for the deviations of the
control it had. When the loop's own recent deviations *toward* the limit are small, the working setpoint
moves slowly toward it — never closer than `min_margin`, nor than `sigmas` RMS deviations, nor more than
`max_shift` from the operator's setpoint — and it moves
back ten-odd times faster when they grow or on any doubt (a PV not usable, an electrode out of the vote,
an interlock holding an output) — ramped, not stepped, so the return does not kick the dose, and held
while the PV is more than `max_shift` away on the other side (returning then would add reagent to an
overshoot: on the poorly buffered day it took T-401 above 9 twice); out of AUTO it is the operator's
setpoint at once. The operator's setpoint stays the operator's: the shift only ever
lies between it and the limit.
"""

from __future__ import annotations

import math
from datetime import datetime

from plantctl.config.models import SetpointShiftConfig


class SetpointShift:
    """The working setpoint of one loop: the operator's, moved toward a limit by an offset the loop earns.

    The offset, not the working setpoint, is what ramps: an operator's setpoint change moves the working
    setpoint with it at once, as without a shift, and the shift never takes it nearer the limit than
    `min_margin` nor further than `max_shift` from the operator's."""

    def __init__(self, cfg: SetpointShiftConfig) -> None:
        self.cfg = cfg
        self.offset = 0.0  # toward the limit, >= 0
        self.working: float | None = None  # None: not started (the operator's setpoint)
        self._ms = 0.0  # mean square of the PV's deviations toward the limit (exponential, fast rise)
        self._healthy_since: datetime | None = None
        self.doubt: str | None = "not started"

    @property
    def rms(self) -> float:
        """RMS of the PV's recent deviations toward the limit, PV unit (a rise is taken 10x faster than a fall,
        so it sits above a plain mean: it is a bound on the dips, not their average)."""
        return math.sqrt(self._ms)

    def toward(self, operator_sp: float) -> float:
        """+1 when the limit lies above the operator's setpoint, -1 when below."""
        return -1.0 if self.cfg.limit < operator_sp else 1.0

    def margin(self) -> float:
        return max(self.cfg.min_margin, self.cfg.sigmas * self.rms)

    def step(self, now: datetime, pv: float | None, operator_sp: float, dt_s: float,
             doubt: str | None) -> float:
        """This period's working setpoint. `doubt` says why the loop is not to be trusted now (None: healthy)."""
        cfg = self.cfg
        toward = self.toward(operator_sp)
        room = (cfg.limit - operator_sp) * toward  # the operator's setpoint's distance from the limit
        self.doubt = doubt
        wanted = 0.0
        if doubt is not None or pv is None or room <= 0:
            self._healthy_since = None
            self._ms = 0.0
        else:
            if self._healthy_since is None:
                self._healthy_since = now
            working = operator_sp + toward * self.offset
            dev = max((pv - working) * toward, 0.0)  # only deviations toward the limit threaten it
            tau = cfg.window_s / 10.0 if dev * dev > self._ms else cfg.window_s
            self._ms += (dev * dev - self._ms) * min(dt_s / tau, 1.0)
            if (now - self._healthy_since).total_seconds() < cfg.window_s:
                self.doubt = f"learning the loop's deviations ({cfg.window_s:g} s healthy before it shifts)"
            else:
                wanted = min(max(room - self.margin(), 0.0), cfg.max_shift)
        change = wanted - self.offset
        rate = cfg.approach_per_s if change > 0 else cfg.retreat_per_s  # out slowly, back quickly (ramped)
        beyond = pv is not None and (pv - (operator_sp + toward * self.offset)) * toward < -cfg.max_shift
        if not beyond:  # the PV far on the other side (a rise, with the limit below): moving now only adds to it
            self.offset += math.copysign(min(abs(change), rate * dt_s), change)
        self.working = self.applied(operator_sp)
        return self.working

    def applied(self, operator_sp: float) -> float:
        """The working setpoint for this operator's setpoint and the offset earned; a setpoint the operator
        put nearer the limit takes the offset down at once (never inside min_margin)."""
        cfg = self.cfg
        toward = self.toward(operator_sp)
        room = (cfg.limit - operator_sp) * toward
        self.offset = min(self.offset, max(room - cfg.min_margin, 0.0), cfg.max_shift)
        return operator_sp + toward * self.offset

    def reset(self) -> None:
        """Out of AUTO: the operator's setpoint, and the deviations learnt again from the next AUTO."""
        self.offset = 0.0
        self.working = None
        self._ms = 0.0
        self._healthy_since = None
        self.doubt = "not in AUTO"
