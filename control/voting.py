"""Voted measurement: three electrodes on one tank, middle-of-three, faulty ones taken out with a reason.

One pH electrode both controlling and tripping is one failure from an off-spec discharge. With
three, the middle value ignores any single wrong reading, whatever its value; a failed electrode
is taken out of the vote automatically (its fault and reason as an event, for the alarm system),
control continues on the mean of two, and with two out the voted value goes Bad so the loop
takes its fail-safe. Faults recognised beside Bad/stale quality:
- frozen: no variation over `window_s` while the others vary (a stuck transmitter or cable);
- drift: departing from the other two beyond `deviation_ph` for `deviation_remove_s`, or reaching
  `remove_ph` slowly (longer than `drift_min_s` from `deviation_ph`): a fouled or ageing junction;
- broken glass: beyond `remove_ph` from the other two while stuck near pH 7, the isopotential
  point of a glass electrode, with the others well away from 7;
- deviation: beyond `remove_ph` from the other two without a trend (removed too).
A deviation beyond `deviation_ph` first raises a deviation alarm while the electrode still votes.
A spare (an electrode in the same water, e.g. the discharge electrode at the tank's outlet) stands in
while one of the three is out: two left that disagree can then still be told apart, and the wrong one
is taken out as with three, instead of the loop controlling on the mean of a good and a bad reading.
An electrode out for Bad/stale quality rejoins by itself after agreeing for `readmit_s`; one out
for a diagnosed fault rejoins only when an operator readmits it (after recalibration).
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from plantctl.quality import Quality
from plantctl.samples import Sample

BROKEN_GLASS_PH = 7.0  # a glass electrode with a broken membrane reads its isopotential point


class ElectrodeFault(StrEnum):
    BAD_QUALITY = "bad_quality"
    STALE = "stale"
    FROZEN = "frozen"
    DRIFT = "drift"
    DEVIATION = "deviation"
    BROKEN_GLASS = "broken_glass"
    OUT_OF_SERVICE = "out_of_service"  # taken out by an operator (calibration)


LATCHED = frozenset({ElectrodeFault.FROZEN, ElectrodeFault.DRIFT, ElectrodeFault.DEVIATION,
                     ElectrodeFault.BROKEN_GLASS, ElectrodeFault.OUT_OF_SERVICE})


class VoteEventKind(StrEnum):
    DEVIATION_ALARM = "deviation_alarm"  # departs from the other two; still in the vote
    DEVIATION_CLEARED = "deviation_cleared"
    REMOVED = "removed"  # taken out of the vote (fault and reason)
    READMITTED = "readmitted"
    VOTE_LOST = "vote_lost"  # fewer than two electrodes in the vote: the voted value is Bad
    VOTE_RESTORED = "vote_restored"  # two or more again


@dataclass(frozen=True, slots=True)
class VoteEvent:
    ts: datetime
    electrode: str
    kind: VoteEventKind
    reason: str
    fault: ElectrodeFault | None = None


@dataclass(frozen=True, slots=True)
class VoterSettings:
    """Thresholds of the vote, in pH and seconds."""

    deviation_ph: float = 0.3  # deviation alarm beyond this from the other two...
    deviation_delay_s: float = 20.0  # ...for this long
    remove_ph: float = 0.6  # taken out beyond this from the other two...
    remove_delay_s: float = 20.0  # ...for this long
    drift_min_s: float = 60.0  # from the alarm to the removal threshold slower than this is a drift
    deviation_remove_s: float = 90.0  # beyond deviation_ph this long (never reaching remove_ph): drifted out
    window_s: float = 60.0  # history judged for frozen, drift and broken glass
    frozen_span_ph: float = 0.002  # a reading that moves less than this over the window...
    others_span_ph: float = 0.02  # ...while each other one moves more than this is frozen
    broken_band_ph: float = 0.4  # broken glass: within this of pH 7...
    broken_away_ph: float = 1.0  # ...while the others are at least this far from 7 and from it
    follow_fraction: float = 0.2  # ...and it moved less than this share of the others' movement...
    broken_moved_ph: float = 0.3  # ...when they moved at least this much over the window
    stale_after_s: float = 10.0
    readmit_s: float = 60.0


@dataclass
class _Electrode:
    name: str
    history: deque[tuple[datetime, float]] = field(default_factory=deque)
    latest: Sample | None = None
    fault: ElectrodeFault | None = None
    fault_reason: str = ""
    deviating_since: datetime | None = None
    removing_since: datetime | None = None
    agreeing_since: datetime | None = None
    deviation_alarm: bool = False

    def span(self) -> float:
        values = [v for _t, v in self.history]
        return max(values) - min(values) if values else 0.0

    def covers(self, now: datetime, window_s: float) -> bool:
        return bool(self.history) and (now - self.history[0][0]).total_seconds() >= window_s * 0.999


@dataclass(frozen=True, slots=True)
class VoteResult:
    """The voted value with its quality, and the electrodes it was taken from."""

    value: float
    quality: Quality
    in_vote: tuple[str, ...]
    reason: str = ""

    def sample(self, tag: str, ts: datetime) -> Sample:
        return Sample(tag, ts, self.value, self.quality, self.reason)


def middle_of_three(a: float, b: float, c: float) -> float:
    """The median: ignores any one value, however wrong."""
    return max(min(a, b), min(max(a, b), c))


class ElectrodeVoter:
    """Middle-of-three voting over three electrodes with fault detection and removal from the vote."""

    def __init__(self, electrodes: Sequence[str], settings: VoterSettings | None = None,
                 events: Callable[[VoteEvent], None] | None = None, spare: str | None = None) -> None:
        if len(electrodes) != 3 or len(set(electrodes)) != 3:
            raise ValueError(f"a voter needs three distinct electrodes, got {list(electrodes)}")
        if spare is not None and spare in electrodes:
            raise ValueError(f"the spare {spare!r} must not be one of the three electrodes")
        self.settings = settings or VoterSettings()
        self._emit = events or (lambda _e: None)
        self._el = {name: _Electrode(name) for name in electrodes}
        self._spare = _Electrode(spare) if spare is not None else None
        self.last: VoteResult | None = None
        self._lost = False

    @property
    def electrodes(self) -> tuple[str, ...]:
        return tuple(self._el)

    @property
    def inputs(self) -> tuple[str, ...]:
        """The three electrodes and the spare (when there is one)."""
        return (*self._el, *((self._spare.name,) if self._spare is not None else ()))

    @property
    def in_vote(self) -> tuple[str, ...]:
        """The electrodes in the vote, with the spare when it stands in for one that is out."""
        names = tuple(n for n, e in self._el.items() if e.fault is None)
        sp = self._spare
        if sp is not None and len(names) < 3 and sp.latest is not None and not sp.latest.quality.is_bad:
            names = (*names, sp.name)
        return names

    def _stand_in(self, now: datetime) -> list[_Electrode]:
        """The spare, while fewer than three electrodes are in the vote and its reading is usable."""
        sp = self._spare
        if sp is None or sp.latest is None or not self._usable(sp.latest, now):
            return []
        return [sp] if sum(1 for e in self._el.values() if e.fault is None) < 3 else []

    def fault_of(self, electrode: str) -> ElectrodeFault | None:
        return self._el[electrode].fault

    def deviation_alarm(self, electrode: str) -> bool:
        return self._el[electrode].deviation_alarm

    def latest(self, electrode: str) -> Sample | None:
        """The electrode's last sample, in the vote or not (what a technician checks before readmitting it)."""
        return self._el[electrode].latest

    def fault_reason(self, electrode: str) -> str:
        return self._el[electrode].fault_reason

    # --- operator ------------------------------------------------------------------------------

    def take_out(self, electrode: str, now: datetime, reason: str) -> None:
        """Operator: take an electrode out of the vote (calibration, cleaning)."""
        self._remove(self._el[electrode], now, ElectrodeFault.OUT_OF_SERVICE, reason or "taken out by an operator")

    def readmit(self, electrode: str, now: datetime, actor: str) -> None:
        """Operator: return an electrode to the vote after repair or recalibration."""
        e = self._el[electrode]
        if e.fault is None:
            return
        e.fault, e.fault_reason = None, ""
        e.deviating_since = e.removing_since = e.agreeing_since = None
        e.history.clear()
        self._emit(VoteEvent(now, e.name, VoteEventKind.READMITTED, f"returned to the vote by {actor}"))

    # --- the period ----------------------------------------------------------------------------

    def update(self, now: datetime, samples: Mapping[str, Sample]) -> VoteResult:
        """Judge each electrode on its latest sample and vote; call once per period."""
        s = self.settings
        for name, e in self._el.items():
            smp = samples.get(name)
            if smp is not None:
                e.latest = smp
            self._judge_quality(e, now)
            if e.latest is not None and self._usable(e.latest, now):
                e.history.append((now, e.latest.value))
            while e.history and (now - e.history[0][0]).total_seconds() > s.window_s:
                e.history.popleft()
        sp = self._spare
        if sp is not None:
            smp = samples.get(sp.name)
            if smp is not None:
                sp.latest = smp
            if sp.latest is not None and self._usable(sp.latest, now):
                sp.history.append((now, sp.latest.value))
            while sp.history and (now - sp.history[0][0]).total_seconds() > s.window_s:
                sp.history.popleft()
        for e in self._el.values():
            if e.fault is None:
                self._judge_against_others(e, now)
        result = self._vote(now)
        self.last = result
        return result

    # --- internals -----------------------------------------------------------------------------

    def _usable(self, smp: Sample, now: datetime) -> bool:
        return smp.usable(now, self.settings.stale_after_s)

    def _judge_quality(self, e: _Electrode, now: datetime) -> None:
        smp = e.latest
        if smp is None:
            return
        if smp.quality.is_bad:
            if e.fault is None:
                self._remove(e, now, ElectrodeFault.BAD_QUALITY, f"quality bad ({smp.reason or smp.quality.reason})")
            return
        age = smp.age_s(now)
        if age > self.settings.stale_after_s:
            if e.fault is None:
                self._remove(e, now, ElectrodeFault.STALE, f"no new value for {age:.0f} s")
            return
        if e.fault in (ElectrodeFault.BAD_QUALITY, ElectrodeFault.STALE):
            self._maybe_readmit(e, now)

    def _maybe_readmit(self, e: _Electrode, now: datetime) -> None:
        """A quality fault clears by itself once the electrode agrees with the vote for readmit_s (at once when
        fewer than two others are in the vote)."""
        assert e.latest is not None
        ref = self.last.value if self.last is not None and self.last.quality is not Quality.BAD_SENSOR_FAILURE \
            else None
        others = [o.latest.value for o in self._el.values()
                  if o is not e and o.fault is None and o.latest is not None and self._usable(o.latest, now)]
        if ref is None and others:
            ref = statistics.fmean(others)
        # With the vote lost (a link drop took them all stale) there is nothing to prove agreement against
        # for long: an electrode back with a usable value rejoins at once, so the loop resumes with its link.
        wait_s = 0.0 if self._lost or len(others) < 2 else self.settings.readmit_s
        if ref is not None and abs(e.latest.value - ref) > self.settings.deviation_ph:
            e.agreeing_since = None
            return
        if e.agreeing_since is None:
            e.agreeing_since = now
        if (now - e.agreeing_since).total_seconds() >= wait_s:
            was = e.fault
            e.fault, e.fault_reason, e.agreeing_since = None, "", None
            e.deviating_since = e.removing_since = None
            self._emit(VoteEvent(now, e.name, VoteEventKind.READMITTED,
                                 f"usable again and within {self.settings.deviation_ph:g} pH of the vote for "
                                 f"{wait_s:g} s (was {was.value if was else '?'})"))

    def _judge_against_others(self, e: _Electrode, now: datetime) -> None:
        s = self.settings
        if e.latest is None or not self._usable(e.latest, now):
            return
        others = [o for o in self._el.values() if o is not e and o.fault is None
                  and o.latest is not None and self._usable(o.latest, now)] + self._stand_in(now)
        if not others:
            return
        # The reference is the nearest other electrode: a wild one then makes no healthy one look deviant.
        mine = e.latest.value
        ref = min((o.latest.value for o in others if o.latest is not None), key=lambda v: abs(mine - v))
        residual = mine - ref
        # Frozen: no variation over the window where every other electrode varies.
        if e.covers(now, s.window_s) and e.span() < s.frozen_span_ph \
                and all(o.covers(now, s.window_s) and o.span() > s.others_span_ph for o in others):
            self._remove(e, now, ElectrodeFault.FROZEN,
                         f"frozen at {e.latest.value:g} pH: moved {e.span():.4f} pH in {s.window_s:g} s while "
                         f"the others moved {min(o.span() for o in others):.3f} pH or more")
            return
        # Broken glass: stuck near the isopotential point and not following a process the others see move.
        if abs(mine - BROKEN_GLASS_PH) < s.broken_band_ph and e.covers(now, s.window_s) \
                and all(o.covers(now, s.window_s) for o in others):
            moved = min(o.span() for o in others)
            recent = [v for _t, v in list(e.history)[-10:]]
            still = max(recent) - min(recent) < s.frozen_span_ph  # a constant reading is frozen, not broken
            if not still and moved > s.broken_moved_ph and e.span() < s.follow_fraction * moved:
                self._remove(e, now, ElectrodeFault.BROKEN_GLASS,
                             f"near pH 7 ({mine:.2f}) and moved {e.span():.3f} pH in {s.window_s:g} s while the "
                             f"others moved {moved:.2f} pH: not following the process (broken glass?)")
                return
        self._deviation_alarm(e, now, abs(residual), residual)
        if len(others) < 2:  # with two left, a disagreement cannot say which one is wrong
            return
        if abs(residual) > s.remove_ph:
            if e.removing_since is None:
                e.removing_since = now
            if (now - e.removing_since).total_seconds() >= s.remove_delay_s:
                fault, how = self._diagnose(e, others)
                self._remove(e, now, fault, f"{residual:+.2f} pH from the nearest other electrode ({ref:.2f} pH){how}")
        else:
            e.removing_since = None
            # A slow drift is out well before it reaches remove_ph: beyond deviation_ph from both others
            # for deviation_remove_s is not process (the three see one well-mixed tank) but the electrode.
            if abs(residual) > s.deviation_ph and e.deviating_since is not None \
                    and (now - e.deviating_since).total_seconds() >= s.deviation_remove_s:
                took = (now - e.deviating_since).total_seconds()
                rate = (abs(residual) - s.deviation_ph) / took * 3600.0  # growth since it crossed deviation_ph
                self._remove(e, now, ElectrodeFault.DRIFT,
                             f"{residual:+.2f} pH from the nearest other electrode ({ref:.2f} pH) for {took:.0f} s, "
                             f"drifting about {rate:.1f} pH/h (or slowed by coating)")

    def _diagnose(self, e: _Electrode, others: list[_Electrode]) -> tuple[ElectrodeFault, str]:
        """Broken glass when stuck near 7 with the others away; drift when the residual grew slowly."""
        s = self.settings
        assert e.latest is not None
        if abs(e.latest.value - BROKEN_GLASS_PH) < s.broken_band_ph \
                and all(o.latest is not None and abs(o.latest.value - BROKEN_GLASS_PH) >= s.broken_away_ph
                        for o in others):
            return ElectrodeFault.BROKEN_GLASS, ", stuck near the glass's isopotential point pH 7 (broken glass?)"
        # A drift crosses from the alarm to the removal threshold slowly; a step deviation at once.
        if e.deviating_since is not None:
            took = (e.removing_since - e.deviating_since).total_seconds() if e.removing_since else 0.0
            if took >= s.drift_min_s:
                rate = (s.remove_ph - s.deviation_ph) / took * 3600.0
                return ElectrodeFault.DRIFT, f", drifting about {rate:.1f} pH/h"
        return ElectrodeFault.DEVIATION, ""

    def _deviation_alarm(self, e: _Electrode, now: datetime, dev: float, residual: float) -> None:
        s = self.settings
        if dev > s.deviation_ph:
            if e.deviating_since is None:
                e.deviating_since = now
            if not e.deviation_alarm and (now - e.deviating_since).total_seconds() >= s.deviation_delay_s:
                e.deviation_alarm = True
                self._emit(VoteEvent(now, e.name, VoteEventKind.DEVIATION_ALARM,
                                     f"{residual:+.2f} pH from the other electrode(s) for {s.deviation_delay_s:g} s"))
        elif dev <= s.deviation_ph / 2:
            e.deviating_since = None
            if e.deviation_alarm:
                e.deviation_alarm = False
                self._emit(VoteEvent(now, e.name, VoteEventKind.DEVIATION_CLEARED,
                                     f"back within {s.deviation_ph / 2:g} pH of the other electrode(s)"))

    def _remove(self, e: _Electrode, now: datetime, fault: ElectrodeFault, reason: str) -> None:
        if e.fault is not None:
            return
        e.fault, e.fault_reason = fault, reason
        e.deviation_alarm = False
        e.deviating_since = e.removing_since = e.agreeing_since = None
        left = len(self.in_vote)
        self._emit(VoteEvent(now, e.name, VoteEventKind.REMOVED,
                             f"{e.name} out of the vote ({fault.value}): {reason}; {left} left", fault))

    def _vote(self, now: datetime) -> VoteResult:
        usable = [e for e in self._el.values()
                  if e.fault is None and e.latest is not None and self._usable(e.latest, now)]
        usable += self._stand_in(now)
        names = tuple(e.name for e in usable)
        if len(usable) < 2:
            out = ", ".join(f"{e.name} {e.fault.value}" + (f" ({e.fault_reason})" if e.fault_reason else "")
                            for e in self._el.values() if e.fault is not None)
            reason = f"{3 - len(usable)} of 3 electrodes out of the vote ({out or 'no values yet'})"
            if not self._lost:
                self._lost = True
                self._emit(VoteEvent(now, ",".join(self._el), VoteEventKind.VOTE_LOST, reason))
            # the value is meaningless when Bad; the last voted one (or 0) keeps it finite for the historian
            value = usable[0].latest.value if usable and usable[0].latest else \
                (self.last.value if self.last is not None else 0.0)
            return VoteResult(value, Quality.BAD_SENSOR_FAILURE, names, reason)
        if self._lost:
            self._lost = False
            self._emit(VoteEvent(now, ",".join(self._el), VoteEventKind.VOTE_RESTORED,
                                 f"{len(usable)} electrodes in the vote again ({', '.join(names)})"))
        samples = [e.latest for e in usable if e.latest is not None]
        if len(samples) == 3:
            v = middle_of_three(*(x.value for x in samples))
            chosen = next(x for x in samples if x.value == v)
            quality = chosen.quality if chosen.quality.is_good else Quality.UNCERTAIN
            return VoteResult(v, quality, names)
        a, b = samples
        v = (a.value + b.value) / 2.0
        worst = Quality.GOOD if a.quality.is_good and b.quality.is_good else Quality.UNCERTAIN
        reason = "two electrodes in the vote"
        if abs(a.value - b.value) > self.settings.remove_ph:
            worst = Quality.UNCERTAIN
            reason = f"the two electrodes left disagree by {abs(a.value - b.value):.2f} pH"
        return VoteResult(v, worst, names, reason)


@dataclass
class TwoOutOfThree:
    """A 2oo3 voted trip with hysteresis: trips when two channels are beyond the limit; a channel that is
    Bad, stale, missing or out of the vote counts as beyond it (fail-safe degradation to 1oo2)."""

    limit: float
    above: bool
    deadband: float = 0.0
    stale_after_s: float = 10.0
    tripped: bool = False
    bad_counts_as_trip: bool = True  # False: a bad channel simply does not vote for the trip

    def evaluate(self, now: datetime, channels: Sequence[Sample | None],
                 out_of_vote: frozenset[int] = frozenset()) -> bool:
        """New trip state from three channels (index in `out_of_vote`: removed by the voter)."""
        if len(channels) != 3:
            raise ValueError("2oo3 needs three channels")
        if self.tripped:
            threshold = self.limit - self.deadband if self.above else self.limit + self.deadband
        else:
            threshold = self.limit
        votes = 0
        for i, smp in enumerate(channels):
            if smp is None or i in out_of_vote or not smp.usable(now, self.stale_after_s):
                votes += int(self.bad_counts_as_trip)
                continue
            votes += int(smp.value > threshold if self.above else smp.value < threshold)
        self.tripped = votes >= 2
        return self.tripped
