"""Field instruments: what the PLC reads is the true value seen through lag, noise, drift and faults."""

from __future__ import annotations

import math
from enum import Enum

from sim.interface import Reading, SensorStatus
from sim.params import SensorParams

BROKEN_GLASS_PH = 7.0  # a cracked pH membrane loses its potential: the transmitter reads near pH 7


class SensorFault(Enum):
    NONE = "none"
    STUCK = "stuck"  # the value freezes; the instrument still reports GOOD (the classic silent fault)
    FAILED = "failed"  # the transmitter signals failure (e.g. NAMUR NE 43 current < 3.6 mA)
    BROKEN = "broken"  # broken pH glass: reads near 7 whatever the process, still GOOD


class Sensor:
    """One instrument: a first-order lag on the true value plus offset, drift and white noise.

    Coating adds to the lag over days; a calibration holds the value UNCERTAIN for a while and then
    clears drift, offset and coating; an analyser (analyser_cycle_s > 0) samples and holds.
    """

    __slots__ = ("_calibrating_s", "_cutoff", "_cycle", "_cycle_s", "_decay", "_flags_drift", "_high", "_lag_s",
                 "_low", "_noise", "_noise_sd", "_shown", "_tolerance", "coating_lag_s", "coating_per_day", "drift_eu",
                 "drift_per_h", "fault", "lagged", "name", "offset_eu", "params")

    def __init__(self, name: str, params: SensorParams, initial: float) -> None:
        self.name = name
        self.params = params
        # the (frozen) parameters the per-step path reads, held as plain slots: read 2x12 times a step
        self._lag_s = params.lag_s
        self._noise_sd = params.noise_sd_eu
        self._cycle = params.analyser_cycle_s
        self._low, self._high = params.range_low_eu, params.range_high_eu
        self._cutoff = params.low_flow_cutoff_eu
        self._flags_drift = params.drift_flags_uncertain
        self._tolerance = params.drift_tolerance_eu
        self.lagged = initial
        self.offset_eu = 0.0  # calibration offset (a step, e.g. after a bad calibration)
        self.drift_eu = 0.0  # accumulated drift
        self.drift_per_h = params.drift_per_h_eu
        self.coating_lag_s = 0.0
        self.coating_per_day = params.coating_lag_s_per_day
        self.fault = SensorFault.NONE
        self._noise = 0.0
        self._calibrating_s = 0.0
        self._cycle_s = 0.0
        self._decay = (0.0, 0.0, 1.0)  # (dt, tau, 1 − e^(−dt/tau)) of the last step: most steps repeat it
        self._shown = self._compose()

    def step(self, true_value: float, dt_s: float, noise: float) -> None:
        """Advance by dt_s toward `true_value`; `noise` is a standard-normal draw for this step."""
        if self.coating_per_day > 0.0:
            self.coating_lag_s += self.coating_per_day * dt_s / 86400.0
        tau = self._lag_s + self.coating_lag_s
        if tau > 0.0:
            decay = self._decay
            if decay[0] != dt_s or decay[1] != tau:
                decay = self._decay = (dt_s, tau, 1.0 - math.exp(-dt_s / tau))
            self.lagged += (true_value - self.lagged) * decay[2]
        else:
            self.lagged = true_value
        if self.drift_per_h != 0.0:  # adding an exact 0.0 would change nothing
            self.drift_eu += self.drift_per_h * dt_s / 3600.0
        self._noise = noise * self._noise_sd
        if self._calibrating_s > 0.0:  # out of the process: the transmitter holds its last value
            self._calibrating_s = max(self._calibrating_s - dt_s, 0.0)
            return
        fault = self.fault
        if fault is SensorFault.NONE:
            if self._cycle > 0.0:
                self._cycle_s += dt_s
                if self._cycle_s + 1e-9 >= self._cycle:  # a new result at the end of each cycle
                    self._cycle_s = 0.0
                    self._shown = self.lagged + self.offset_eu + self.drift_eu + self._noise
            else:
                self._shown = self.lagged + self.offset_eu + self.drift_eu + self._noise
        elif fault is SensorFault.BROKEN:
            self._shown = BROKEN_GLASS_PH + self._noise

    def _compose(self) -> float:
        return self.lagged + self.offset_eu + self.drift_eu + self._noise

    def reading(self) -> Reading:
        """The value and status the PLC input card sees now."""
        if self.fault is SensorFault.FAILED:
            return Reading(self._low, SensorStatus.FAILED)
        value = self._shown
        low = self._low
        status = SensorStatus.GOOD
        if value < self._cutoff:  # a flowmeter's low-flow cutoff: no flow reads a clean zero
            value = low
        elif value <= low or value >= self._high:
            value = min(max(value, low), self._high)
            status = SensorStatus.UNCERTAIN
        if (self._calibrating_s > 0.0
                or (self._flags_drift and abs(self.offset_eu + self.drift_eu) > self._tolerance)):
            status = SensorStatus.UNCERTAIN
        return Reading(value, status)

    # --- faults a scenario (or a test) injects ---------------------------------------------

    def fail(self) -> None:
        self.fault = SensorFault.FAILED

    def stick(self) -> None:
        self.fault = SensorFault.STUCK

    def break_glass(self) -> None:
        self.fault = SensorFault.BROKEN

    def set_drift(self, drift_per_h: float) -> None:
        self.drift_per_h = drift_per_h

    def set_offset(self, offset_eu: float) -> None:
        self.offset_eu = offset_eu

    def set_coating_rate(self, lag_s_per_day: float) -> None:
        self.coating_per_day = lag_s_per_day

    def calibrate(self) -> None:
        """A technician calibrates (or an analyser self-calibrates): held UNCERTAIN, then drift, offset and
        coating are gone (the coating rate stays: the process keeps fouling)."""
        self._calibrating_s = self.params.calibration_s
        self.drift_eu = 0.0
        self.offset_eu = 0.0
        self.coating_lag_s = 0.0

    def recover(self) -> None:
        """Repaired and recalibrated: faults, drift, offset and coating cleared."""
        self.fault = SensorFault.NONE
        self.drift_eu = 0.0
        self.drift_per_h = 0.0
        self.offset_eu = 0.0
        self.coating_lag_s = 0.0
        self.coating_per_day = self.params.coating_lag_s_per_day
        self._calibrating_s = 0.0
        self._shown = self._compose()
