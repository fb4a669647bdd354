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
from control.kinds import build_law
from control.law import ControlLaw
from control.ph_law import PhLaw
from control.setpoint_shift import SetpointShift
from control.state import LoopState
from control.titration_id import BufferFit
from control.voting import ElectrodeVoter, VoteEvent, VoteEventKind, VoteResult
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


_VOTE_EVENT_KIND = {
    VoteEventKind.DEVIATION_ALARM: LoopEventKind.ELECTRODE_DEVIATION,
    VoteEventKind.DEVIATION_CLEARED: LoopEventKind.ELECTRODE_DEVIATION_CLEARED,
    VoteEventKind.REMOVED: LoopEventKind.ELECTRODE_REMOVED,
    VoteEventKind.READMITTED: LoopEventKind.ELECTRODE_READMITTED,
    VoteEventKind.VOTE_LOST: LoopEventKind.VOTE_LOST,
    VoteEventKind.VOTE_RESTORED: LoopEventKind.VOTE_RESTORED,
}


class Loop:
    """One supervisory control loop (MAN / AUTO / CAS): the shell around its kind's control law."""

    def __init__(self, cfg: LoopConfig, events: EventSink, pv_unit: str = "", output_unit: str = "%") -> None:
        self.cfg = cfg
        self.name = cfg.name
        self._emit = events
        self.pv_unit = pv_unit
        self.output_unit = output_unit
        self.law: ControlLaw = build_law(cfg, self._law_event)
        self.interlocks = [Interlock(c, list(cfg.mv)) for c in cfg.interlocks]
        self.mode = LoopMode.MAN
        self.setpoint = cfg.setpoint
        self.remote_setpoint: float | None = None
        self.output = 0.0  # controller output, % (split-range signal when two outputs)
        self.fail_safe = FailSafeState.NORMAL
        self._hold_since: datetime | None = None
        self._latest: dict[str, Sample] = {}
        self._manual_target = 0.0
        self._force_output: float | None = None  # applied at the next execute without rate limit
        self.pv_usable = False
        self._pending_mode = cfg.mode  # the configured start mode, taken once the PV is usable
        self._restored_i: float | None = None
        self._held_output = 0.0  # PID part + feedforward at the start of a fail-safe hold
        self._ff_at_hold: float | None = None
        self.voter: ElectrodeVoter | None = None
        self._vote: VoteResult | None = None
        self._vote_at: datetime | None = None
        if cfg.voted_with:
            self.voter = ElectrodeVoter([cfg.pv, *cfg.voted_with], events=self._vote_event, spare=cfg.vote_spare)
        self._inputs = self._input_tags()
        self._first_execute: datetime | None = None
        self.shift = SetpointShift(cfg.setpoint_shift) if cfg.setpoint_shift is not None else None
        self._shift_away = False  # the working setpoint is not the operator's (for the events)
        self._shift_doubt_said: str | None = None
        self._spare_disagrees_since: datetime | None = None

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
        tags = {self.cfg.pv, *self.cfg.voted_with, *(t for i in self.interlocks for t in i.inputs), *self.law.inputs}
        if self.cfg.vote_spare is not None:
            tags.add(self.cfg.vote_spare)
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
        if self.voter is not None:
            self._vote = self.voter.update(now, {t: self._latest[t] for t in self.voter.inputs
                                                 if t in self._latest})
            self._vote_at = now
        pv_sample, why_bad = self._pv(now)
        usable = why_bad is None
        self.pv_usable = usable
        self._step_shift(now, pv_sample if usable else None, why_bad, dt_s)
        sp_now = self.working_setpoint
        self.law.observe(now, self._latest, sp_now, self.cfg.fail_safe.stale_after_s)
        self._update_remote_setpoint(now)
        if self._pending_mode is not LoopMode.MAN and usable and self._cannot_run(now) is None:
            mode, self._pending_mode = self._pending_mode, LoopMode.MAN
            if mode is LoopMode.AUTO or self.remote_setpoint is not None:
                self._change_mode(mode, now, "configured start mode", "loop")

        forced = self._force_output
        self._force_output = None
        computed = False  # the law computed this period
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
                target += self.law.bias - (held_ff if held_ff is not None else self.law.bias)
            if self.fail_safe is FailSafeState.SUBSTITUTED:  # just shed to MAN: the substitute goes out now
                forced = target
        else:
            assert pv_sample is not None
            if self.fail_safe is FailSafeState.HOLD:
                self.fail_safe = FailSafeState.NORMAL
                self._hold_since = None
                self._ff_at_hold = None
                self.law.reset(self.output)
                self._event(now, LoopEventKind.PV_RECOVERED,
                            f"{self.cfg.pv} usable again within the hold time; control resumes from the held output")
            target = self.law.update(now, pv_sample, self.working_setpoint, dt_s)
            computed = True

        u = forced if forced is not None else self._rate_limited(target, dt_s)
        u = min(max(u, self.cfg.output_low), self.cfg.output_high)
        requests, u_applied = self._outputs(now, u)
        self.output = u_applied
        if self.mode is LoopMode.MAN:
            if forced is not None or u_applied != u:  # forced or stopped: stays there when the cause clears
                self._manual_target = u_applied
        elif self.law.active:
            if u_applied != u or not computed:  # a stopped pump or a hold: back-calculate
                self.law.track(u_applied)
            elif u != min(max(target, self.cfg.output_low), self.cfg.output_high):
                # Only the rate limit held the output back: freeze the integral (conditional integration).
                self.law.freeze_integration()
        return requests

    def track_output(self, value: float) -> None:
        """Follow an output set from outside (a cascade primary while its secondary is not in CAS)."""
        self.output = min(max(value, self.cfg.output_low), self.cfg.output_high)
        self._manual_target = self.output
        if self.law.active:
            self.law.track(self.output)

    # --- persistence -----------------------------------------------------------------------

    def snapshot(self, now: datetime) -> LoopState:
        law = self.law
        points = tuple(law.curve.points) if isinstance(law, PhLaw) and law.identified and law.curve else None
        return LoopState(loop=self.name, mode=self.mode, setpoint=self.setpoint, output_pct=self.output,
                         integral_pct=self.law.integral if self.law.active else self.output - self.law.bias,
                         saved_at=now, remote_setpoint=self.remote_setpoint,
                         feedforward_gain=self.law.feedforward_gain, titration_points=points)

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
        self.law.stop()
        self._pending_mode = state.mode
        self._restored_i = state.integral_pct
        self.law.restore_gain(state.feedforward_gain)
        if state.titration_points and isinstance(self.law, PhLaw):
            self.law.adopt_curve(TitrationCurve(state.titration_points))
            self.law.identified = True
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
            self.law.stop()
            self._manual_target = self.output
        elif old is LoopMode.MAN:
            self.law.reset(self.output, self._restored_i)
            self._restored_i = None
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
            missing = [t for t in lock.tags if t not in self._latest]
            if len(missing) >= (2 if lock.voted else 1) and not lock.tripped and lock.cfg.on_bad_quality == "trip":
                return f"interlock {lock.cfg.name} has no value of {', '.join(missing)} yet"
        return None

    def _pv(self, now: datetime) -> tuple[Sample | None, str | None]:
        """Latest PV sample (the voted one with voted_with:) and why it is unusable (None when usable)."""
        if self.voter is not None:
            if self._vote is None or self._vote_at is None:
                return None, "has no voted value yet"
            s: Sample | None = self._vote.sample(self.cfg.pv, self._vote_at)
            assert s is not None
            if s.quality.is_bad:
                return s, f"vote lost: {s.reason}"
            # between periods (an operator's mode request), judge the electrodes' newest samples too
            stale = self.cfg.fail_safe.stale_after_s
            gone = {t: smp for t in self.voter.in_vote if (smp := self._latest.get(t)) is None
                    or not smp.usable(now, stale)}
            if len(self.voter.in_vote) - len(gone) < 2:
                why = ", ".join(f"{t} {'no value' if smp is None else smp.reason or smp.quality.reason}"
                                for t, smp in gone.items())
                return s, f"vote lost: fewer than two usable electrodes ({why})"
            return s, None
        s = self._latest.get(self.cfg.pv)
        if s is None:
            return None, "has no value yet"
        unusable = s.why_unusable(now, self.cfg.fail_safe.stale_after_s)
        return s, None if unusable is None else f"is {unusable}"

    def _fail_safe_step(self, now: datetime, why: str) -> float:
        fs = self.cfg.fail_safe
        if self.fail_safe is FailSafeState.NORMAL:
            self.fail_safe = FailSafeState.HOLD
            self._hold_since = now
            self._held_output = self.output
            self._ff_at_hold = self.law.bias
            self.law.stop()
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
            if lock.voted:
                samples = [self._latest.get(t) for t in lock.tags]
                if starting and any(smp is None for smp in samples):
                    continue
                spare = self._latest.get(lock.cfg.spare) if lock.cfg.spare is not None else None
                change = lock.evaluate_voted(now, samples, self.cfg.fail_safe.stale_after_s, spare)
            else:
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

    @property
    def working_setpoint(self) -> float:
        """The setpoint the loop controls to now: the remote one in CAS, the shifted one (setpoint_shift:) in
        AUTO, else the operator's."""
        if self.mode is LoopMode.CAS and self.remote_setpoint is not None:
            return self.remote_setpoint
        if self.shift is not None and self.mode is LoopMode.AUTO and self.shift.working is not None:
            return self.shift.applied(self.setpoint)  # an operator's change between periods counts at once
        return self.setpoint

    def _shift_doubt(self, now: datetime, why_bad: str | None) -> str | None:
        """Why the setpoint shift must not hold the working setpoint near its limit now (None: it may)."""
        if why_bad is not None:
            return f"PV {self.cfg.pv} {why_bad}"
        if self.fail_safe is not FailSafeState.NORMAL:
            return f"fail-safe {self.fail_safe.value}"
        voter, vote = self.voter, self._vote
        if voter is not None:
            out = [t for t in voter.electrodes if voter.fault_of(t) is not None]
            if out:
                return f"{', '.join(out)} out of the vote"
            departing = [t for t in voter.electrodes if voter.deviation_alarm(t)]
            if departing:
                return f"{', '.join(departing)} departing from the other electrodes"
        spare_tag = self.cfg.vote_spare
        if spare_tag is not None and vote is not None and self.shift is not None:
            spare = self._latest.get(spare_tag)
            if spare is None or not spare.usable(now, self.cfg.fail_safe.stale_after_s):
                return f"{spare_tag} (the vote's spare) not usable"
            # the same water read nearer the limit than the vote says (a spare reading further away, as the
            # outlet does for a moment when the tank rises fast, is no reason to raise the dose)
            if (spare.value - vote.value) * self.shift.toward(self.setpoint) <= self.shift.cfg.spare_agree:
                self._spare_disagrees_since = None
            else:
                since = self._spare_disagrees_since = self._spare_disagrees_since or now
                if (now - since).total_seconds() >= self.shift.cfg.spare_delay_s:
                    return (f"{spare_tag} reads {spare.value:.2f}, {abs(spare.value - vote.value):.2f} nearer the "
                            f"limit than the vote {vote.value:.2f}")
        tripped = self.active_interlocks
        if tripped:
            return f"interlock {', '.join(tripped)} active"
        return None

    def _step_shift(self, now: datetime, pv: Sample | None, why_bad: str | None, dt_s: float) -> None:
        shift = self.shift
        if shift is None:
            return
        if self.mode is not LoopMode.AUTO:
            if shift.working is not None:
                shift.reset()
            self._shift_away = False
            self._shift_doubt_said = None
            return
        doubt = self._shift_doubt(now, why_bad)
        working = shift.step(now, pv.value if pv is not None else None, self.setpoint, dt_s, doubt)
        away = abs(working - self.setpoint) > 1e-6
        unit = self.pv_unit
        if away and not self._shift_away:
            self._event(now, LoopEventKind.SETPOINT_SHIFT,
                        f"working setpoint moving from {self.setpoint:g} toward {shift.cfg.limit:g} {unit}: "
                        f"deviations toward the limit RMS {shift.rms:.3f} {unit}, margin kept "
                        f"{shift.margin():.2f} {unit}", data={"limit": shift.cfg.limit, "margin": shift.margin()})
        elif away and doubt is not None and self._shift_doubt_said is None:  # once per withdrawal
            self._event(now, LoopEventKind.SETPOINT_SHIFT,
                        f"working setpoint {working:.2f} returning to {self.setpoint:g} {unit}: {doubt}",
                        data={"working": working})
        elif not away and self._shift_away:
            self._event(now, LoopEventKind.SETPOINT_SHIFT,
                        f"working setpoint back at the operator's {self.setpoint:g} {unit}"
                        + (f": {doubt}" if doubt else ""), data={"working": working})
        self._shift_away = away
        self._shift_doubt_said = doubt if away and doubt is not None else None

    def _update_remote_setpoint(self, now: datetime) -> None:
        src = self.cfg.cas_source
        if src is None or src not in self._latest:
            return
        s = self._latest[src]
        if not s.usable(now, self.cfg.fail_safe.stale_after_s):
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

    def _outputs(self, now: datetime, u: float) -> tuple[list[OutputRequest], float]:
        """Requests for every MV after the law's allocation and stop interlocks; and the output applied."""
        stopped = frozenset(tag for lock in self.interlocks if lock.tripped for tag in lock.outputs)
        alloc = self.law.allocate(now, u, self._latest.get(self.cfg.pv), stopped)
        unit = self.output_unit
        return [OutputRequest(self.name, tag, value, unit) for tag, value in alloc.values], alloc.applied

    def _law_event(self, now: datetime, kind: LoopEventKind, reason: str) -> None:
        self._event(now, kind, reason)

    def _vote_event(self, ev: VoteEvent) -> None:
        data: dict[str, float | str] = {"electrode": ev.electrode}
        if ev.fault is not None:
            data["fault"] = ev.fault.value
        self._event(ev.ts, _VOTE_EVENT_KIND[ev.kind], f"{ev.electrode}: {ev.reason}", data=data)

    def readmit_electrode(self, electrode: str, actor: str, now: datetime) -> None:
        """Return an electrode to the vote after its repair or recalibration (an operator's decision)."""
        if self.voter is None or electrode not in self.voter.electrodes:
            raise ValueError(f"{self.name}: {electrode!r} is not one of this loop's voted electrodes")
        self.voter.readmit(electrode, now, actor)

    def enter_lab_titration(self, points: list[tuple[float, float]], actor: str, now: datetime) -> TitrationCurve:
        """An engineer's lab titration [pH, base mmol/L of effluent]: refines the curve the loop uses."""
        if not isinstance(self.law, PhLaw):
            raise ValueError(f"{self.name} is a {self.cfg.kind.value} loop: only a pH loop uses a titration curve")
        curve = self.law.enter_lab_titration(now, points)
        self._event(now, LoopEventKind.TITRATION_ADOPTED,
                    f"lab titration of {len(points)} points entered by {actor}: curve refined "
                    f"({len(curve.points)} grid points, pH {curve.ph_range[0]:g}-{curve.ph_range[1]:g})", actor)
        return curve

    @property
    def vote(self) -> VoteResult | None:
        """The last vote (None without voted_with:): value, quality and the electrodes in it."""
        return self._vote

    # --- status ----------------------------------------------------------------------------

    @property
    def feedforward(self) -> Feedforward | None:
        return self.law.feedforward

    @property
    def feedforward_output(self) -> float:
        return self.law.bias

    @property
    def feedforward_gain(self) -> float:
        """The adapted feedforward ratio (1.0 without adaptation)."""
        return self.law.feedforward_gain

    @property
    def integral(self) -> float:
        """The law's integral (output %), for display and tests."""
        return self.law.integral

    @property
    def compensator(self) -> Compensator:
        return self.law.compensator

    @property
    def active_interlocks(self) -> list[str]:
        return [lock.cfg.name for lock in self.interlocks if lock.tripped]

    @property
    def control_space_unit(self) -> str:
        return self.law.compensator.unit or self.pv_unit

    @property
    def titration_curve(self) -> TitrationCurve | None:
        """The titration curve the compensation uses now (None for a loop without one)."""
        return self.law.curve if isinstance(self.law, PhLaw) else None

    @property
    def titration_identified(self) -> bool:
        """True when the curve in use is no longer the plant file's (lab titration or on-line identification)."""
        return isinstance(self.law, PhLaw) and self.law.identified

    @property
    def buffer_fit(self) -> BufferFit | None:
        """The latest on-line identification of the buffering (loops with identification:)."""
        return self.law.last_fit if isinstance(self.law, PhLaw) else None

    @property
    def compensation(self) -> CompensationKind:
        return self.law.compensator.kind
