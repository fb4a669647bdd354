"""The reagent-flow law (kind `flow`): the inner loop of a cascade, flow setpoint → pump speed.

Pump wear or an air lock then shows as this loop's deviation (alarmed), not as a pH excursion.
Turndown: below its minimum effective speed a metering pump delivers nothing reliable, and a PI
that asks for less limit-cycles — the integral creeps up to the minimum, the flow jumps above the
setpoint, the integral falls back below, no flow. Below the minimum this law pulses the pump
instead: on at the minimum speed for the share u/min of each cycle, so the delivered average is
proportional to u right down to zero and the outer pH loop still sees a linear actuator (the
tank's hour-long residence time smooths a 30 s cycle). While pulsing, the law acts once per
cycle, on the flow averaged over the whole cycle (which removes the pulse ripple exactly), and the
applied output counts as u (the average), so nothing is back-calculated from the pulses. Acting
once per cycle on a pump of gain K (flow per % speed) is stable for ki·K·cycle_s < 2; keep it
below 1 for a response that does not oscillate (1 is deadbeat). A deadband with hold (sit at the
minimum, or stop) was rejected: it either over-doses or leaves a steady offset, which the pH loop
then integrates into its own limit cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from control.compensation import Compensator
from control.events import LoopEventKind
from control.feedforward import Feedforward
from control.law import Allocation, Notify
from control.pid import PidCore
from plantctl.config.models import CompensationKind, LoopConfig
from plantctl.samples import Sample


class FlowLaw:
    """PID on reagent flow driving one pump's speed, with pulsed turndown and a deviation alarm."""

    def __init__(self, cfg: LoopConfig, notify: Notify) -> None:
        self.cfg = cfg
        self._notify = notify
        self.pid = PidCore(cfg.kp, cfg.ki, cfg.kd, cfg.setpoint, cfg.output_low, cfg.output_high)
        self._compensator = Compensator(CompensationKind.NONE, None)
        self._window: list[tuple[float, float]] = []  # (dt_s, flow) since the pulse cycle began
        self._u = 0.0  # the law's output: held through a pulse cycle
        self._cycle_start: datetime | None = None
        self.pulsing = False
        self.deviation = 0.0  # setpoint − measured (cycle average while pulsing), in the flow's unit
        self.deviation_alarm = False
        self._deviating_s = 0.0
        self._i_before: float | None = None

    @property
    def inputs(self) -> frozenset[str]:
        return frozenset()

    @property
    def limits(self) -> tuple[float, float]:
        return self.cfg.output_low, self.cfg.output_high

    @property
    def active(self) -> bool:
        return self.pid.active

    @property
    def bias(self) -> float:
        return 0.0

    @property
    def integral(self) -> float:
        return self.pid.integral

    @property
    def feedforward_gain(self) -> float:
        return 1.0

    @property
    def compensator(self) -> Compensator:
        return self._compensator

    @property
    def feedforward(self) -> Feedforward | None:
        return None

    def observe(self, now: datetime, latest: Mapping[str, Sample], setpoint: float, stale_after_s: float) -> None:
        return None

    def update(self, now: datetime, pv: Sample, setpoint: float, dt_s: float) -> float:
        self.pid.setpoint = setpoint
        self._i_before = self.pid.integral
        if not self.pulsing:
            self._u = self.pid.update(pv.value, dt_s)
            self._judge_deviation(now, setpoint, pv.value, dt_s)
            return self._u
        # Pulsing: the law acts once per cycle, on the flow averaged over the whole cycle (no ripple).
        self._window.append((dt_s, pv.value))
        assert self._cycle_start is not None and self.cfg.turndown is not None
        elapsed = (now - self._cycle_start).total_seconds()
        if elapsed + 1e-9 < self.cfg.turndown.cycle_s:
            return self._u
        span = sum(d for d, _f in self._window)
        averaged = sum(d * f for d, f in self._window) / span
        self._window.clear()
        self._cycle_start = now
        self._u = self.pid.update(averaged, elapsed)
        self._judge_deviation(now, setpoint, averaged, elapsed)
        return self._u

    def reset(self, output: float, integral: float | None = None) -> None:
        self._u = output
        self.pid.start(output)
        if integral is not None:
            self.pid.seed(integral)
        self._i_before = None
        self._deviating_s = 0.0

    def stop(self) -> None:
        self.pid.stop()
        self._i_before = None
        self._deviating_s = 0.0

    def track(self, applied: float) -> None:
        self.pid.track(applied)

    def freeze_integration(self) -> None:
        if self._i_before is not None:
            self.pid.seed(self._i_before)

    def allocate(self, now: datetime, u: float, pv: Sample | None, stopped: frozenset[str]) -> Allocation:
        """Speed u; below the turndown minimum, pulses at the minimum with duty u/min (its average is u)."""
        tag = self.cfg.mv[0]
        td = self.cfg.turndown
        if tag in stopped or u <= 0.0:
            self.pulsing = False
            self._cycle_start = None
            return Allocation(((tag, 0.0),), 0.0 if tag in stopped else u)
        if td is None or u >= td.min_speed_pct:
            self.pulsing = False
            self._cycle_start = None
            return Allocation(((tag, u),), u)
        if not self.pulsing or self._cycle_start is None:  # a cycle begins: the law acts again at its end
            self._cycle_start = now
            self._window.clear()
        phase = ((now - self._cycle_start).total_seconds() % td.cycle_s) / td.cycle_s
        self.pulsing = True
        on = phase < u / td.min_speed_pct
        return Allocation(((tag, td.min_speed_pct if on else 0.0),), u)

    def restart_cycle(self, now: datetime) -> None:
        """While pulsing, begin a new cycle now: its flow measured another way (a meter fall-back begun or
        ended) must not be averaged with the old one; the law acts at the new cycle's end."""
        if self.pulsing:
            self._cycle_start = now
            self._window.clear()

    def restore_gain(self, gain: float) -> None:
        return None

    def _judge_deviation(self, now: datetime, setpoint: float, measured: float, dt_s: float) -> None:
        self.deviation = setpoint - measured
        cfg = self.cfg.deviation_alarm
        if cfg is None:
            return
        if abs(self.deviation) > cfg.limit:
            self._deviating_s += dt_s
        elif abs(self.deviation) <= cfg.limit / 2:  # hysteresis: clears at half the limit
            self._deviating_s = 0.0
            if self.deviation_alarm:
                self.deviation_alarm = False
                self._notify(now, LoopEventKind.FLOW_DEVIATION_CLEARED,
                             f"{self.cfg.pv} back within {cfg.limit / 2:g} of its setpoint {setpoint:g}")
        if not self.deviation_alarm and self._deviating_s > cfg.delay_s:
            self.deviation_alarm = True
            self._notify(now, LoopEventKind.FLOW_DEVIATION, self._diagnosis(setpoint, measured, cfg.delay_s))

    def _diagnosis(self, setpoint: float, measured: float, delay_s: float) -> str:
        speed = self.pid.integral + self.pid.proportional_and_derivative()
        head = (f"{self.cfg.pv} = {measured:g} against setpoint {setpoint:g} for more than {delay_s:g} s "
                f"at {speed:.0f} % speed")
        if measured < 0.1 * setpoint:
            return f"{head}: no flow at speed (air lock, empty tank or closed valve?)"
        if measured < setpoint:
            return f"{head}: flow short (pump wear, partial air lock, suction restriction?)"
        return f"{head}: flow above setpoint (siphoning, stuck speed, meter fault?)"
