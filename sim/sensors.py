"""Field instruments: what the PLC reads is the true value seen through lag, noise, drift and faults."""

from __future__ import annotations

import math
from enum import Enum

from sim.interface import Reading, SensorStatus
from sim.params import SensorParams


class SensorFault(Enum):
    NONE = "none"
    STUCK = "stuck"  # the value freezes; the instrument still reports GOOD (the classic silent fault)
    FAILED = "failed"  # the transmitter signals failure (e.g. NAMUR NE 43 current < 3.6 mA)


class Sensor:
    """One instrument: a first-order lag on the true value plus offset, drift and white noise."""

    __slots__ = ("_noise", "_shown", "drift_eu", "drift_per_h", "fault", "lagged", "name",
                 "offset_eu", "params")

    def __init__(self, name: str, params: SensorParams, initial: float) -> None:
        self.name = name
        self.params = params
        self.lagged = initial
        self.offset_eu = 0.0  # calibration offset (a step, e.g. after a bad calibration)
        self.drift_eu = 0.0  # accumulated drift
        self.drift_per_h = params.drift_per_h_eu
        self.fault = SensorFault.NONE
        self._noise = 0.0
        self._shown = self._compose()

    def step(self, true_value: float, dt_s: float, noise: float) -> None:
        """Advance by dt_s toward `true_value`; `noise` is a standard-normal draw for this step."""
        tau = self.params.lag_s
        if tau > 0.0:
            self.lagged += (true_value - self.lagged) * (1.0 - math.exp(-dt_s / tau))
        else:
            self.lagged = true_value
        self.drift_eu += self.drift_per_h * dt_s / 3600.0
        self._noise = noise * self.params.noise_sd_eu
        if self.fault is SensorFault.NONE:
            self._shown = self._compose()

    def _compose(self) -> float:
        return self.lagged + self.offset_eu + self.drift_eu + self._noise

    def reading(self) -> Reading:
        """The value and status the PLC input card sees now."""
        p = self.params
        if self.fault is SensorFault.FAILED:
            return Reading(p.range_low_eu, SensorStatus.FAILED)
        value = self._shown
        status = SensorStatus.GOOD
        if value <= p.range_low_eu or value >= p.range_high_eu:
            value = min(max(value, p.range_low_eu), p.range_high_eu)
            status = SensorStatus.UNCERTAIN
        if abs(self.offset_eu + self.drift_eu) > p.drift_tolerance_eu:
            status = SensorStatus.UNCERTAIN
        return Reading(value, status)

    # --- faults a scenario (or a test) injects ---------------------------------------------

    def fail(self) -> None:
        self.fault = SensorFault.FAILED

    def stick(self) -> None:
        self.fault = SensorFault.STUCK

    def set_drift(self, drift_per_h: float) -> None:
        self.drift_per_h = drift_per_h

    def set_offset(self, offset_eu: float) -> None:
        self.offset_eu = offset_eu

    def recover(self) -> None:
        """Repaired and recalibrated: faults, drift and offset cleared."""
        self.fault = SensorFault.NONE
        self.drift_eu = 0.0
        self.drift_per_h = 0.0
        self.offset_eu = 0.0
        self._shown = self._compose()
