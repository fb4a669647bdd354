"""A control loop: fed PV samples, it owns its mode, PID, interlocks and fail-safe, and asks for outputs.

It never talks to the network: `execute()` returns output requests that the runtime writes through
the connector that owns each tag, and every mode change, interlock and fail-safe action goes to
the event sink with its reason. Behaviour on bad input follows established DCS practice: hold the
last output, then a substitute output and MAN; no integral action without a usable PV; only an
operator returns the loop to AUTO.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from control.compensation import Compensator, TitrationCurve
from control.events import EventSink, LoopEvent, LoopEventKind
from control.feedforward import Feedforward
from control.interlocks import Interlock
from control.pid import PidCore
from control.split_range import PumpDemand, SplitRange
from control.state import LoopState
from plantctl.config.models import CompensationKind, LoopConfig, LoopMode, PlantConfig
from plantctl.samples import Sample


class ModeRefused(Exception):
    """An operator asked for a mode the loop cannot take now; the message says why."""


class FailSafeState(StrEnum):
    NORMAL = "normal"
    HOLD = "hold"  # PV unusable: last output held, no integral action
    SUBSTITUTED = "substituted"  # hold expired: substitute output, loop shed to MAN


@dataclass(frozen=True, slots=True)
class OutputRequest:
    """A value the loop wants written to an output tag (through the connector's write path)."""

    loop: str
    tag: str
    value: float
    unit: str


class Loop:
    """One supervisory control loop (MAN / AUTO / CAS) over one PV and one or two outputs."""

    def __init__(self, cfg: LoopConfig, events: EventSink, pv_unit: str = "", output_unit: str = "%") -> None:
        self.cfg = cfg
        self.name = cfg.name
        self._emit = events
        self.pv_unit = pv_unit
        self.output_unit = output_unit
        curve = TitrationCurve.from_config(cfg.titration_curve) if cfg.titration_curve is not None else None
        self.curve = curve
        self.compensator = Compensator(cfg.compensation, curve)
        self.feedforward = Feedforward(cfg.feedforward, curve) if cfg.feedforward is not None else None
        self.split: SplitRange | None = None
        if len(cfg.mv) == 2:
            sr = cfg.split_range
            self.split = SplitRange(sr.dead_band_pct if sr else 0.0, sr.low_side_gain if sr else 1.0)
        self.interlocks = [Interlock(c, list(cfg.mv)) for c in cfg.interlocks]
        self.pid = PidCore(cfg.kp, cfg.ki, cfg.kd, self.compensator.to_control(cfg.setpoint),
                           cfg.output_low, cfg.output_high)
        self.mode = LoopMode.MAN
        self.setpoint = cfg.setpoint
        self.remote_setpoint: float | None = None
        self.output = 0.0  # controller output, % (split-range signal when two outputs)
        self.fail_safe = FailSafeState.NORMAL
        self._hold_since: datetime | None = None
        self._latest: dict[str, Sample] = {}
        self._ff_u = 0.0
        self._ff_pct = 0.0  # base pump % the feedforward model gives, before the adapted gain
        self._ff_gain = 1.0
        self._ff_ok = True
        self._manual_target = 0.0
        self._force_output: float | None = None  # applied at the next execute without rate limit
        self.pv_usable = False
        self._pending_mode = cfg.mode  # the configured start mode, taken once the PV is usable
        self._restored_integral: float | None = None
        self._held_output = 0.0  # PID part + feedforward at the start of a fail-safe hold
        self._ff_at_hold: float | None = None
        self._inputs = self._input_tags()
        self._first_execute: datetime | None = None

    @classmethod
    def from_plant(cls, plant: PlantConfig, name: str, events: EventSink) -> Loop:
        cfg = next((lp for lp in plant.loops if lp.name == name), None)
        if cfg is None:
            raise KeyError(f"no loop {name!r} in the plant file; loops: {', '.join(lp.name for lp in plant.loops)}")
        units = {t.name: t.unit for t in plant.tags}
        if cfg.mv:
            out_unit = units.get(cfg.mv[0], "%")
        else:  # a cascade primary's output is in its secondary's PV unit
            secondary = next((lp for lp in plant.loops if lp.cas_source == name), None)
            out_unit = units.get(secondary.pv, "") if secondary is not None else ""
        return cls(cfg, events, units.get(cfg.pv, ""), out_unit)

    # --- inputs ----------------------------------------------------------------------------

    @property
    def inputs(self) -> frozenset[str]:
        """Every tag whose samples this loop needs (the runtime routes them to on_sample)."""
        return self._inputs

    def _input_tags(self) -> frozenset[str]:
        tags = {self.cfg.pv, *(i.cfg.tag for i in self.interlocks)}
        if self.feedforward is not None:
            tags.update(self.feedforward.tags)
        if self.cfg.cas_source is not None:
            tags.add(self.cfg.cas_source)
        return frozenset(tags)

    def on_sample(self, sample: Sample) -> None:
        if sample.tag in self._inputs:
            self._latest[sample.tag] = sample

    # --- operator commands -----------------------------------------------------------------

    def set_mode(self, mode: LoopMode, actor: str, now: datetime, reason: str = "") -> None:
        """Operator/API mode change; raises ModeRefused with the reason when it cannot be taken."""
        if mode is self.mode:
            return
        if mode in (LoopMode.AUTO, LoopMode.CAS):
            why = self._cannot_run(now)
            if why is None and mode is LoopMode.CAS and self.remote_setpoint is None:
                why = "no remote setpoint yet"
            if why is not None:
                self._event(now, LoopEventKind.MODE_REFUSED, f"{mode.value} refused: {why}", actor,
                            {"requested": mode.value})
                raise ModeRefused(f"{self.name}: {mode.value} refused: {why}")
        self._change_mode(mode, now, reason or "operator request", actor)

    def set_setpoint(self, value: float, actor: str, now: datetime) -> None:
        lo, hi = self.cfg.setpoint_low, self.cfg.setpoint_high
        if not lo <= value <= hi:
            raise ValueError(f"{self.name}: setpoint {value:g} {self.pv_unit} is outside [{lo:g}, {hi:g}]")
        old = self.setpoint
        self.setpoint = value
        self._event(now, LoopEventKind.SETPOINT_CHANGE, f"setpoint {old:g} → {value:g} {self.pv_unit}", actor,
                    {"old": old, "new": value, "unit": self.pv_unit})

    def set_output(self, value: float, actor: str, now: datetime) -> None:
        """Operator output in MAN (rate-limited on the way out)."""
        if self.mode is not LoopMode.MAN:
            raise ModeRefused(f"{self.name}: the output is set by the operator only in MAN (mode is {self.mode})")
        lo, hi = self.cfg.output_low, self.cfg.output_high
        if not lo <= value <= hi:
            raise ValueError(f"{self.name}: output {value:g} % is outside [{lo:g}, {hi:g}] %")
        self._manual_target = value
        self._event(now, LoopEventKind.OUTPUT_CHANGE, f"manual output → {value:g} %", actor, {"new": value})

    def set_remote_setpoint(self, value: float) -> None:
        """Remote (cascade) setpoint from another loop or the API; clamped to the setpoint limits."""
        self.remote_setpoint = min(max(value, self.cfg.setpoint_low), self.cfg.setpoint_high)

    # --- the periodic step -----------------------------------------------------------------

    def execute(self, now: datetime, dt_s: float) -> list[OutputRequest]:
        """One loop period: interlocks, PV checks, PID, rate limit, split range → output requests."""
        if dt_s <= 0:
            raise ValueError(f"dt_s must be positive, got {dt_s}")
        self._check_interlocks(now)
        pv_sample, why_bad = self._pv(now)
        usable = why_bad is None
        self.pv_usable = usable
        self._update_feedforward(now)
        self._update_remote_setpoint(now)
        if self._pending_mode is not LoopMode.MAN and usable and self._cannot_run(now) is None:
            mode, self._pending_mode = self._pending_mode, LoopMode.MAN
            if mode is LoopMode.AUTO or self.remote_setpoint is not None:
                self._change_mode(mode, now, "configured start mode", "loop")

        forced = self._force_output
        self._force_output = None
        integral_before: float | None = None  # set when the PID computed this period
        if self.mode is LoopMode.MAN:
            if usable and self.fail_safe is not FailSafeState.NORMAL:
                self.fail_safe = FailSafeState.NORMAL
                self._event(now, LoopEventKind.PV_RECOVERED,
                            f"{self.cfg.pv} usable again; loop stays MAN until an operator returns it to AUTO")
            if usable and self.cfg.sp_tracking_in_man and pv_sample is not None:
                self.setpoint = min(max(pv_sample.value, self.cfg.setpoint_low), self.cfg.setpoint_high)
            target = self._manual_target
        elif not usable:
            held_ff = self._ff_at_hold
            target = self._fail_safe_step(now, why_bad or "")
            if self.fail_safe is FailSafeState.HOLD and self.cfg.fail_safe.feedforward_in_hold:
                target += self._ff_u - (held_ff if held_ff is not None else self._ff_u)
            if self.fail_safe is FailSafeState.SUBSTITUTED:  # just shed to MAN: the substitute goes out now
                forced = target
        else:
            assert pv_sample is not None
            if self.fail_safe is FailSafeState.HOLD:
                self.fail_safe = FailSafeState.NORMAL
                self._hold_since = None
                self._ff_at_hold = None
                self.pid.start(self.output - self._ff_u)
                self._event(now, LoopEventKind.PV_RECOVERED,
                            f"{self.cfg.pv} usable again within the hold time; control resumes from the held output")
            sp = self.setpoint
            if self.mode is LoopMode.CAS and self.remote_setpoint is not None:
                sp = self.remote_setpoint
            self.pid.setpoint = self.compensator.to_control(sp)
            if pv_sample.quality.is_good:  # learn only from a trusted PV: not from a drifting electrode
                self._adapt_feedforward(dt_s)
            integral_before = self.pid.integral
            pv = pv_sample.value
            u_pid = self.pid.update(self.compensator.to_control(pv), dt_s, self.compensator.gain_factor(pv))
            target = u_pid + self._ff_u

        u = forced if forced is not None else self._rate_limited(target, dt_s)
        u = min(max(u, self.cfg.output_low), self.cfg.output_high)
        requests, u_applied = self._outputs(u)
        self.output = u_applied
        if self.mode is LoopMode.MAN:
            if forced is not None or u_applied != u:  # forced or stopped: stays there when the cause clears
                self._manual_target = u_applied
        elif self.pid.active:
            if u_applied != u or integral_before is None:  # a stopped pump or a hold: back-calculate
                self.pid.track(u_applied - self._ff_u)
            elif u != min(max(target, self.cfg.output_low), self.cfg.output_high):
                # Only the rate limit held the output back: freeze the integral (conditional integration).
                # Back-calculating here would bury every fast feedforward change in the integral, where
                # it stays: a load drop would keep the old dose.
                self.pid.seed_integral(integral_before)
        return requests

    def track_output(self, value: float) -> None:
        """Follow an output set from outside (a cascade primary while its secondary is not in CAS)."""
        self.output = min(max(value, self.cfg.output_low), self.cfg.output_high)
        self._manual_target = self.output
        if self.pid.active:
            self.pid.track(self.output - self._ff_u)

    # --- persistence -----------------------------------------------------------------------

    def snapshot(self, now: datetime) -> LoopState:
        return LoopState(loop=self.name, mode=self.mode, setpoint=self.setpoint, output_pct=self.output,
                         integral_pct=self.pid.integral if self.pid.active else self.output - self._ff_u,
                         saved_at=now, remote_setpoint=self.remote_setpoint, feedforward_gain=self._ff_gain)

    def restore(self, state: LoopState, now: datetime) -> None:
        """Resume after a restart from the saved state (mode AUTO/CAS waits for a usable PV)."""
        if state.loop != self.name:
            raise ValueError(f"state of loop {state.loop!r} cannot restore loop {self.name!r}")
        lo, hi = self.cfg.setpoint_low, self.cfg.setpoint_high
        self.setpoint = min(max(state.setpoint, lo), hi)
        self.remote_setpoint = state.remote_setpoint
        out = min(max(state.output_pct, self.cfg.output_low), self.cfg.output_high)
        self.output = out
        self._manual_target = out
        self.mode = LoopMode.MAN
        self.pid.stop()
        self._pending_mode = state.mode
        self._restored_integral = state.integral_pct
        if self.feedforward is not None and self.feedforward.cfg.adapt is not None:
            ad = self.feedforward.cfg.adapt
            self._ff_gain = min(max(state.feedforward_gain, ad.gain_low), ad.gain_high)
        self._event(now, LoopEventKind.RESTORED,
                    f"restored: {state.mode.value}, setpoint {self.setpoint:g} {self.pv_unit}, output {out:g} % "
                    f"(saved {state.saved_at.isoformat()})", "loop",
                    {"mode": state.mode.value, "setpoint": self.setpoint, "output": out})

    # --- internals -------------------------------------------------------------------------

    def _event(self, now: datetime, kind: LoopEventKind, reason: str, actor: str = "loop",
               data: dict[str, float | str] | None = None) -> None:
        self._emit(LoopEvent(now, self.name, kind, reason, actor, data or {}))

    def _change_mode(self, mode: LoopMode, now: datetime, reason: str, actor: str) -> None:
        old = self.mode
        self.mode = mode
        if mode is LoopMode.MAN:
            self.pid.stop()
            self._manual_target = self.output
        elif old is LoopMode.MAN:
            self.pid.start(self.output - self._ff_u)
            if self._restored_integral is not None:
                self.pid.seed_integral(self._restored_integral)
                self._restored_integral = None
            self.fail_safe = FailSafeState.NORMAL
        self._event(now, LoopEventKind.MODE_CHANGE, f"{old.value} → {mode.value}: {reason}", actor,
                    {"old": old.value, "new": mode.value})

    def _cannot_run(self, now: datetime) -> str | None:
        _s, why = self._pv(now)
        if why is not None:
            return f"PV {self.cfg.pv} {why}"
        for lock in self.interlocks:
            if lock.tripped and lock.forces_manual:
                return f"interlock {lock.cfg.name} is active"
            if lock.cfg.tag not in self._latest and not lock.tripped and lock.cfg.on_bad_quality == "trip":
                return f"interlock {lock.cfg.name} has no value of {lock.cfg.tag} yet"
        return None

    def _pv(self, now: datetime) -> tuple[Sample | None, str | None]:
        """Latest PV sample and why it is unusable (None when usable)."""
        s = self._latest.get(self.cfg.pv)
        if s is None:
            return None, "has no value yet"
        if s.quality.is_bad:
            return s, f"is bad ({s.reason or s.quality.reason})"
        age = (now - s.ts).total_seconds()
        if age > self.cfg.fail_safe.stale_after_s:
            return s, f"is stale ({age:.1f} s old, limit {self.cfg.fail_safe.stale_after_s:g} s)"
        return s, None

    def _fail_safe_step(self, now: datetime, why: str) -> float:
        fs = self.cfg.fail_safe
        if self.fail_safe is FailSafeState.NORMAL:
            self.fail_safe = FailSafeState.HOLD
            self._hold_since = now
            self._held_output = self.output
            self._ff_at_hold = self._ff_u
            self.pid.stop()
            self._event(now, LoopEventKind.FAIL_SAFE_HOLD,
                        f"PV {self.cfg.pv} {why}: output held at {self.output:g} % for up to {fs.hold_s:g} s",
                        data={"output": self.output, "hold_s": fs.hold_s})
        assert self._hold_since is not None
        if (now - self._hold_since).total_seconds() >= fs.hold_s:
            sub = min(max(fs.substitute_output, self.cfg.output_low), self.cfg.output_high)
            self.fail_safe = FailSafeState.SUBSTITUTED
            self._hold_since = None
            self._event(now, LoopEventKind.FAIL_SAFE_SUBSTITUTE,
                        f"PV {self.cfg.pv} {why} for {fs.hold_s:g} s: substitute output {sub:g} %, loop to MAN",
                        data={"output": sub})
            self._change_mode(LoopMode.MAN, now, "fail-safe: PV unusable beyond the hold time", "loop")
            self._manual_target = sub
            self._ff_at_hold = None
            return sub
        return self._held_output

    def _check_interlocks(self, now: datetime) -> None:
        if self._first_execute is None:
            self._first_execute = now
        # At start the links deliver their first values over a few seconds: an input not yet heard
        # from is not judged until stale_after_s has passed (the loop cannot leave MAN meanwhile);
        # then a missing value trips as a bad one does.
        starting = (now - self._first_execute).total_seconds() < self.cfg.fail_safe.stale_after_s
        for lock in self.interlocks:
            sample = self._latest.get(lock.cfg.tag)
            if sample is None and starting:
                continue
            change = lock.evaluate(sample)
            if change is None:
                continue
            kind = LoopEventKind.INTERLOCK_TRIP if change.tripped else LoopEventKind.INTERLOCK_CLEAR
            self._event(now, kind, f"{change.name}: {change.reason}", data={"outputs": ",".join(lock.outputs)})
            if change.tripped and lock.forces_manual:
                if self.mode is not LoopMode.MAN:
                    self._change_mode(LoopMode.MAN, now, f"interlock {change.name}", "loop")
                self._pending_mode = LoopMode.MAN
                self._force_output = 0.0

    def _update_feedforward(self, now: datetime) -> None:
        ff = self.feedforward
        if ff is None:
            return
        flow = self._latest.get(ff.cfg.flow_tag)
        inf = self._latest.get(ff.cfg.influent_ph_tag) if ff.cfg.influent_ph_tag else None
        bad = [t for t, s in ((ff.cfg.flow_tag, flow), (ff.cfg.influent_ph_tag, inf))
               if t is not None and (s is None or s.quality.is_bad
                                     or (now - s.ts).total_seconds() > self.cfg.fail_safe.stale_after_s)]
        if bad:
            if self._ff_ok:
                self._ff_ok = False
                self._event(now, LoopEventKind.FEEDFORWARD_BAD,
                            f"feedforward input {', '.join(bad)} unusable: feedforward held at {self._ff_u:g} %")
            return
        if not self._ff_ok:
            self._ff_ok = True
            self._event(now, LoopEventKind.FEEDFORWARD_RECOVERED, "feedforward inputs usable again")
        assert flow is not None
        sp = self.remote_setpoint if self.mode is LoopMode.CAS and self.remote_setpoint is not None \
            else self.setpoint
        self._ff_pct = ff.base_pump_pct(flow.value, sp, inf.value if inf is not None else None)
        self._set_ff(self._ff_gain * self._ff_pct)  # enters the PID sum; the total stays rate-limited downstream

    def _set_ff(self, pump_pct: float) -> None:
        ff_u = self.split.output_for_high(pump_pct) if self.split is not None else pump_pct
        self._ff_u = min(ff_u, self.cfg.output_high)
        self.pid.set_bias(self._ff_u)

    def _adapt_feedforward(self, dt_s: float) -> None:
        """Move a slice of the integral into the feedforward gain; the output does not move."""
        ad = self.feedforward.cfg.adapt if self.feedforward is not None else None
        if ad is None or not self._ff_ok or self._ff_pct < ad.min_pct or not self.pid.active:
            return
        wanted = self.pid.integral / self._ff_pct  # the gain change that would take the whole integral
        gain = min(max(self._ff_gain + wanted * min(dt_s / ad.time_s, 1.0), ad.gain_low), ad.gain_high)
        if gain == self._ff_gain:
            return
        before = self._ff_u
        self._ff_gain = gain
        self._set_ff(gain * self._ff_pct)
        self.pid.shift_integral(before - self._ff_u)

    def _update_remote_setpoint(self, now: datetime) -> None:
        src = self.cfg.cas_source
        if src is None or src not in self._latest:
            return
        s = self._latest[src]
        if s.quality.is_bad or (now - s.ts).total_seconds() > self.cfg.fail_safe.stale_after_s:
            if self.mode is LoopMode.CAS:
                if self.remote_setpoint is not None:
                    self.setpoint = self.remote_setpoint
                self._change_mode(LoopMode.AUTO, now, f"remote setpoint {src} unusable: shed to AUTO", "loop")
            return
        self.set_remote_setpoint(s.value)

    def _rate_limited(self, target: float, dt_s: float) -> float:
        rate = self.cfg.output_rate_per_s
        if rate is None:
            return target
        step = rate * dt_s
        return self.output + min(max(target - self.output, -step), step)

    def _outputs(self, u: float) -> tuple[list[OutputRequest], float]:
        """Requests for every MV after split range and stop interlocks; and the output actually applied."""
        stopped = {tag for lock in self.interlocks if lock.tripped for tag in lock.outputs}
        sr = self.cfg.split_range
        if sr is not None and sr.low_side_above_pv is not None and len(self.cfg.mv) == 2:
            pv = self._latest.get(self.cfg.pv)
            if pv is None or pv.quality.is_bad or pv.value <= sr.low_side_above_pv:
                stopped.add(self.cfg.mv[1])
        unit = self.output_unit
        if not self.cfg.mv:  # cascade primary: its output is the secondary's remote setpoint
            return [], u
        if self.split is None:
            tag = self.cfg.mv[0]
            value = 0.0 if tag in stopped else u
            return [OutputRequest(self.name, tag, value, unit)], value
        demand = self.split.split(u)
        high_tag, low_tag = self.cfg.mv
        applied = PumpDemand(0.0 if high_tag in stopped else demand.high_pct,
                             0.0 if low_tag in stopped else demand.low_pct)
        u_applied = u if applied == demand else self.split.output_for(applied)
        return ([OutputRequest(self.name, high_tag, applied.high_pct, unit),
                 OutputRequest(self.name, low_tag, applied.low_pct, unit)], u_applied)

    # --- status ----------------------------------------------------------------------------

    @property
    def feedforward_output(self) -> float:
        return self._ff_u

    @property
    def feedforward_gain(self) -> float:
        """The adapted feedforward ratio (1.0 without adaptation)."""
        return self._ff_gain

    @property
    def active_interlocks(self) -> list[str]:
        return [lock.cfg.name for lock in self.interlocks if lock.tripped]

    @property
    def control_space_unit(self) -> str:
        return self.compensator.unit or self.pv_unit

    @property
    def compensation(self) -> CompensationKind:
        return self.compensator.kind
