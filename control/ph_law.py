"""The pH law (kind `ph`): PID on the titration-compensated pH, influent feedforward with an adapted
gain, split range onto a base and an acid pump. The loop shell around it is `control.loop.Loop`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from control.compensation import Compensator, TitrationCurve
from control.events import LoopEventKind
from control.feedforward import Feedforward
from control.law import Allocation, Notify
from control.oscillation import OscillationGuard
from control.pid import PidCore
from control.split_range import PumpDemand, SplitRange
from control.titration_id import BufferFit, BufferIdentifier, TitrationEstimator, rebuffered
from plantctl.config.models import LoopConfig
from plantctl.samples import Sample


class PhLaw:
    """PID + titration compensation + feedforward + split range, as one control law."""

    def __init__(self, cfg: LoopConfig, notify: Notify) -> None:
        self.cfg = cfg
        self._notify = notify
        curve = TitrationCurve.from_config(cfg.titration_curve) if cfg.titration_curve is not None else None
        self.curve = curve
        self._compensator = Compensator(cfg.compensation, curve)
        self._feedforward = Feedforward(cfg.feedforward, curve) if cfg.feedforward is not None else None
        self.split: SplitRange | None = None
        if len(cfg.mv) == 2:
            sr = cfg.split_range
            self.split = SplitRange(sr.dead_band_pct if sr else 0.0, sr.low_side_gain if sr else 1.0)
        self.pid = PidCore(cfg.kp, cfg.ki, cfg.kd, self._compensator.to_control(cfg.setpoint),
                           cfg.output_low, cfg.output_high)
        self._ff_u = 0.0
        self._ff_pct = 0.0  # base pump % the feedforward model gives, before the adapted gain
        self._ff_gain = 1.0
        self._ff_ok = True
        self._i_before: float | None = None
        self._last: tuple[float, float] | None = None  # (pv, setpoint) of the last update
        # the configured curve is the prior; lab titrations entered later refine it (control.titration_id)
        self.estimator = TitrationEstimator(curve) if curve is not None else None
        self.identified = False  # a curve other than the plant file's is in use
        # the buffering followed on line from the loop's own dose and the pH's response
        self.identifier = BufferIdentifier(cfg.identification) \
            if cfg.identification is not None and curve is not None else None
        self._flow: float | None = None  # the feedforward's flow, m3/h, for the identification
        self._pending: TitrationCurve | None = None  # identified, not yet different enough to adopt
        self.guard = OscillationGuard(cfg.oscillation_guard) if cfg.oscillation_guard is not None else None

    # --- what the shell reads -------------------------------------------------------------------

    @property
    def inputs(self) -> frozenset[str]:
        return frozenset(self._feedforward.tags) if self._feedforward is not None else frozenset()

    @property
    def limits(self) -> tuple[float, float]:
        return self.cfg.output_low, self.cfg.output_high

    @property
    def active(self) -> bool:
        return self.pid.active

    @property
    def bias(self) -> float:
        return self._ff_u

    @property
    def integral(self) -> float:
        return self.pid.integral

    @property
    def feedforward_gain(self) -> float:
        return self._ff_gain

    @property
    def compensator(self) -> Compensator:
        return self._compensator

    @property
    def feedforward(self) -> Feedforward | None:
        return self._feedforward

    # --- the period -----------------------------------------------------------------------------

    def observe(self, now: datetime, latest: Mapping[str, Sample], setpoint: float, stale_after_s: float) -> None:
        """Feedforward from influent flow and pH; its inputs bad or stale hold its last value."""
        ff = self._feedforward
        if ff is None:
            return
        flow = latest.get(ff.cfg.flow_tag)
        inf = latest.get(ff.cfg.influent_ph_tag) if ff.cfg.influent_ph_tag else None
        bad = [t for t, s in ((ff.cfg.flow_tag, flow), (ff.cfg.influent_ph_tag, inf))
               if t is not None and (s is None or s.quality.is_bad
                                     or s.age_s(now) > stale_after_s)]
        if bad:
            if self._ff_ok:
                self._ff_ok = False
                self._notify(now, LoopEventKind.FEEDFORWARD_BAD,
                             f"feedforward input {', '.join(bad)} unusable: feedforward held at {self._ff_u:g} %")
            return
        if not self._ff_ok:
            self._ff_ok = True
            self._notify(now, LoopEventKind.FEEDFORWARD_RECOVERED, "feedforward inputs usable again")
        assert flow is not None
        self._flow = flow.value
        self._ff_pct = ff.base_pump_pct(flow.value, setpoint, inf.value if inf is not None else None)
        self._set_ff(self._ff_gain * self._ff_pct)  # enters the PID sum; the total stays rate-limited downstream

    def update(self, now: datetime, pv: Sample, setpoint: float, dt_s: float) -> float:
        self.pid.setpoint = self._compensator.to_control(setpoint)
        if pv.quality.is_good:  # learn only from a trusted PV: not from a drifting electrode
            self._adapt_feedforward(dt_s)
        self._i_before = self.pid.integral
        self._last = (pv.value, setpoint)
        guard = self.guard
        if guard is not None and guard.update(setpoint - pv.value, dt_s):
            self._notify(now, LoopEventKind.GAIN_CUT,
                         f"the loop is cycling (error beyond {guard.cfg.min_amplitude:g} for {guard.cfg.half_cycles} "
                         f"half-cycles): gain cut to {guard.gain:.2f} of the tuned one — the plant's buffering is "
                         "lower than the titration curve says; enter a lab titration")
        scale = guard.gain if guard is not None else 1.0
        u_pid = self.pid.update(self._compensator.to_control(pv.value), dt_s,
                                self._compensator.gain_factor(pv.value) * scale)
        return u_pid + self._ff_u

    def reset(self, output: float, integral: float | None = None) -> None:
        self.pid.start(output - self._ff_u)
        if integral is not None:
            self.pid.seed(integral)
        self._i_before = None

    def stop(self) -> None:
        self.pid.stop()
        self._i_before = None

    def track(self, applied: float) -> None:
        self.pid.track(applied - self._ff_u)

    def freeze_integration(self) -> None:
        # Back-calculating here would bury every fast feedforward change in the integral, where it
        # stays: a load drop would keep the old dose.
        if self._i_before is not None:
            self.pid.seed(self._i_before)

    def allocate(self, now: datetime, u: float, pv: Sample | None, stopped: frozenset[str]) -> Allocation:
        """Split range onto [base, acid]; the acid side needs its PV permissive; stopped sides at 0."""
        stop = set(stopped)
        sr = self.cfg.split_range
        if sr is not None and sr.low_side_above_pv is not None and len(self.cfg.mv) == 2 \
                and (pv is None or pv.quality.is_bad or pv.value <= sr.low_side_above_pv):
            stop.add(self.cfg.mv[1])
        alloc = self._split(u, stop)
        if pv is not None:
            self._identify(now, pv, alloc.applied)
        return alloc

    def _split(self, u: float, stop: set[str]) -> Allocation:
        if not self.cfg.mv:  # cascade primary: its output is the secondary's remote setpoint
            return Allocation((), u)
        if self.split is None:
            tag = self.cfg.mv[0]
            value = 0.0 if tag in stop else u
            return Allocation(((tag, value),), value)
        demand = self.split.split(u)
        high_tag, low_tag = self.cfg.mv
        applied = PumpDemand(0.0 if high_tag in stop else demand.high_pct,
                             0.0 if low_tag in stop else demand.low_pct)
        u_applied = u if applied == demand else self.split.output_for(applied)
        return Allocation(((high_tag, applied.high_pct), (low_tag, applied.low_pct)), u_applied)

    def restore_gain(self, gain: float) -> None:
        if self._feedforward is not None and self._feedforward.cfg.adapt is not None:
            ad = self._feedforward.cfg.adapt
            self._ff_gain = min(max(gain, ad.gain_low), ad.gain_high)

    def adopt_curve(self, curve: TitrationCurve) -> None:
        """Take an identified titration curve (control.titration_id) for compensation and feedforward.

        Bumpless: the proportional term's change at the last PV and setpoint moves into the integral.
        The feedforward follows the new curve from the next period (rate-limited by the loop).
        """
        old = self._compensator
        new = Compensator(self.cfg.compensation, curve)
        if self.pid.active and self._last is not None:
            pv, sp = self._last
            kp = self.pid.tunings[0]
            p_old = kp * old.gain_factor(pv) * (old.to_control(sp) - old.to_control(pv))
            p_new = kp * new.gain_factor(pv) * (new.to_control(sp) - new.to_control(pv))
            self.pid.shift(p_old - p_new)
        self.curve = curve
        self._compensator = new
        if self.cfg.feedforward is not None:
            self._feedforward = Feedforward(self.cfg.feedforward, curve)

    def enter_lab_titration(self, ts: datetime, points: list[tuple[float, float]]) -> TitrationCurve:
        """A lab titration of the effluent, weighed with the prior and earlier ones; the fit is adopted."""
        if self.estimator is None:
            raise ValueError("this loop has no titration curve to refine (titration_curve: is not configured)")
        self.estimator.add_lab_titration(ts, points)
        curve = self.estimator.curve(ts)
        self.adopt_curve(curve)
        self.identified = True
        self._pending = None  # the lab has the last word over the on-line identification until its next fit
        return curve

    @property
    def last_fit(self) -> BufferFit | None:
        """The latest on-line identification of the buffering (None before the first window)."""
        return self.identifier.last if self.identifier is not None else None

    # --- internals ------------------------------------------------------------------------------

    def _identify(self, now: datetime, pv: Sample, u_applied: float) -> None:
        """Feed the dose-response identification; a confident fit refines the curve, adopted when it moved."""
        ident, est = self.identifier, self.estimator
        curve = self._pending or self.curve
        if ident is None or est is None or curve is None or self._flow is None or not self.pid.active \
                or not pv.quality.is_good or not self._ff_ok:
            return
        ff_u = self.split.output_for_high(self._ff_pct) if self.split is not None else self._ff_pct
        fit = ident.observe(now, pv.value, u_applied, ff_u, self._flow, curve)
        if fit is None or not fit.accepted:
            return
        cfg = ident.cfg
        ratio = (fit.slope / fit.curve_slope) ** cfg.step
        candidate = rebuffered(curve, fit.ph, ratio, cfg.half_span_ph)
        prior = est.prior.slope(fit.ph)
        if not cfg.ratio_low <= candidate.slope(fit.ph) / prior <= cfg.ratio_high:
            return  # the plant file's curve bounds how far identification may take it
        in_use = self.curve
        assert in_use is not None
        old_slope, new_slope = in_use.slope(fit.ph), candidate.slope(fit.ph)
        if abs(new_slope / old_slope - 1.0) < cfg.min_change:
            self._pending = candidate  # small moves accumulate until they matter: no churn of the curve in use
            return
        self._pending = None
        self.adopt_curve(candidate)
        self.identified = True
        self._notify(now, LoopEventKind.TITRATION_ADOPTED,
                     f"identified from the plant's dose-response: {fit.reason}; curve adopted, its buffering at "
                     f"pH {fit.ph:.2f} now {new_slope:.3g} mmol/L per pH (was {old_slope:.3g})")

    def _set_ff(self, pump_pct: float) -> None:
        ff_u = self.split.output_for_high(pump_pct) if self.split is not None else pump_pct
        self._ff_u = min(ff_u, self.cfg.output_high)
        self.pid.set_bias(self._ff_u)

    def _adapt_feedforward(self, dt_s: float) -> None:
        """Move a slice of the integral into the feedforward gain; the output does not move."""
        ad = self._feedforward.cfg.adapt if self._feedforward is not None else None
        if ad is None or not self._ff_ok or self._ff_pct < ad.min_pct or not self.pid.active:
            return
        wanted = self.pid.integral / self._ff_pct  # the gain change that would take the whole integral
        gain = min(max(self._ff_gain + wanted * min(dt_s / ad.time_s, 1.0), ad.gain_low), ad.gain_high)
        if gain == self._ff_gain:
            return
        before = self._ff_u
        self._ff_gain = gain
        self._set_ff(gain * self._ff_pct)
        self.pid.shift(before - self._ff_u)
