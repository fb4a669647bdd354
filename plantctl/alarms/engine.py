"""The alarm engine: sample batches in, ISA-18.2 transitions out; pure, in memory, never waits on I/O."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from plantctl.alarms.conditions import (
    Debouncer,
    Detector,
    SetpointProvider,
    detector_for,
    range_alarm,
    suppression_test,
)
from plantctl.alarms.states import AlarmRecord, AlarmRefused, AlarmSnapshot, AlarmState, Transition
from plantctl.config.models import AlarmConfig, AlarmType, PlantConfig, TagConfig
from plantctl.quality import Quality
from plantctl.samples import Sample

TransitionSink = Callable[[list[Transition]], None]
"""Where transitions go as they happen (the journal's non-blocking submit)."""


class _Alarm:
    """One configured alarm: its detector, its delays and its ISA-18.2 record."""

    __slots__ = ("cfg", "debouncer", "detector", "record")

    def __init__(self, cfg: AlarmConfig, setpoint: SetpointProvider | None, unit: str,
                 tag: TagConfig | None = None) -> None:
        self.cfg = cfg
        self.detector: Detector = detector_for(cfg, setpoint, tag)
        self.debouncer = Debouncer(cfg.on_delay_s, cfg.off_delay_s)
        self.record = AlarmRecord(cfg.name, cfg.priority, latching=cfg.latching, re_alarm_s=cfg.re_alarm_s,
                                  shelve_max_s=cfg.shelve_max_s, unit=unit)


@dataclass(frozen=True, slots=True)
class AlarmStatus:
    """One alarm as a faceplate or the API shows it."""

    name: str
    tag: str
    type: AlarmType
    priority: int
    state: AlarmState
    active: bool
    acked: bool
    latched: bool
    value: float | None
    quality: Quality | None
    active_since: datetime | None
    shelved_until: datetime | None
    shelve_reason: str
    message: str


@dataclass
class AckResult:
    """Outcome of acknowledging several alarms at once: what was done and what was refused, with why."""

    done: list[Transition] = field(default_factory=list)
    refused: dict[str, AlarmRefused] = field(default_factory=dict)


@dataclass
class EngineStats:
    samples: int = 0
    evaluations: int = 0
    transitions: int = 0
    stale_samples: int = 0  # older than the tag's last sample: ignored


class AlarmEngine:
    """Evaluates every configured alarm on each sample; operator actions and timers change states too."""

    def __init__(self, alarms: Sequence[AlarmConfig], setpoint: SetpointProvider | None = None,
                 sink: TransitionSink | None = None, tick_period_s: float = 0.25,
                 units: Mapping[str, str] | None = None, tags: Mapping[str, TagConfig] | None = None) -> None:
        self._alarms: dict[str, _Alarm] = {}
        by_tag: dict[str, list[_Alarm]] = {}
        suppressors: dict[str, list[tuple[Callable[[float, Quality], bool], AlarmRecord]]] = {}
        for cfg in alarms:
            if cfg.name in self._alarms:
                raise ValueError(f"duplicate alarm {cfg.name!r}")
            alarm = _Alarm(cfg, setpoint, (units or {}).get(cfg.tag, ""), (tags or {}).get(cfg.tag))
            self._alarms[cfg.name] = alarm
            by_tag.setdefault(cfg.tag, []).append(alarm)
            if cfg.suppress_when is not None:
                test = suppression_test(cfg.suppress_when.below, cfg.suppress_when.above)
                suppressors.setdefault(cfg.suppress_when.tag, []).append((test, alarm.record))
        self._by_tag = {tag: tuple(a) for tag, a in by_tag.items()}
        self._by_loop: dict[str, tuple[_Alarm, ...]] = {}
        for a in self._alarms.values():
            if a.cfg.type is AlarmType.DEVIATION and a.cfg.loop is not None:
                self._by_loop[a.cfg.loop] = (*self._by_loop.get(a.cfg.loop, ()), a)
        self._suppressors = {tag: tuple(s) for tag, s in suppressors.items()}
        self._last_ts: dict[str, datetime] = {}
        self._sink = sink
        self._tick_period = timedelta(seconds=tick_period_s)
        self._last_tick: datetime | None = None
        self.stats = EngineStats()

    @classmethod
    def for_plant(cls, plant: PlantConfig, setpoint: SetpointProvider | None = None,
                  sink: TransitionSink | None = None) -> AlarmEngine:
        """The engine for a plant's alarms, values labelled with their tags' units.

        The diagnostic range alarms (`SYS.RANGE.<tag>`) come with the plant the service runs
        (plantctl.runtime.assemble.service_plant, declared by plantctl.alarms.diagnostics); a `type: range` alarm
        the file declares without a message gets theirs, which names the likely causes.
        """
        tags = {t.name: t for t in plant.tags}
        alarms = [a.model_copy(update={"message": range_alarm(tags[a.tag]).message})
                  if a.type is AlarmType.RANGE and not a.message and a.tag in tags else a for a in plant.alarms]
        return cls(alarms, setpoint, sink, units={t.name: t.unit for t in plant.tags}, tags=tags)

    # -- feeding -------------------------------------------------------------------------------
    def process(self, batch: Iterable[Sample], now: datetime) -> list[Transition]:
        """Evaluate a batch of samples (then the timers, at most every tick period); returns the transitions."""
        out: list[Transition] = []
        by_tag, suppressors, last_ts = self._by_tag, self._suppressors, self._last_ts
        stats = self.stats
        for s in batch:
            stats.samples += 1
            prev = last_ts.get(s.tag)
            if prev is not None and s.ts < prev:
                stats.stale_samples += 1
                continue
            last_ts[s.tag] = s.ts
            for test, rec in suppressors.get(s.tag, ()):
                t = rec.set_suppressed(test(s.value, s.quality), s.ts)
                if t is not None:
                    out.append(t)
            for alarm in by_tag.get(s.tag, ()):
                stats.evaluations += 1
                flip = alarm.debouncer.observe(alarm.detector.evaluate(s.value, s.quality, s.ts), s.ts)
                if flip is not None:
                    t = alarm.record.set_condition(alarm.debouncer.on, flip, s.value, s.quality)
                    if t is not None:
                        out.append(t)
                else:
                    rec = alarm.record
                    rec.value, rec.quality = s.value, s.quality
        if self._last_tick is None or now - self._last_tick >= self._tick_period:
            out.extend(self._timers(now))
        return self._emit(out)

    def setpoint_changed(self, loop: str, now: datetime) -> list[Transition]:
        """Re-evaluate the loop's deviation alarms on the last PV at once (not only at the next PV sample)."""
        out: list[Transition] = []
        for alarm in self._by_loop.get(loop, ()):
            rec = alarm.record
            if rec.value is None or rec.quality is None:
                continue
            flip = alarm.debouncer.observe(alarm.detector.evaluate(rec.value, rec.quality, now), now)
            if flip is not None:
                t = rec.set_condition(alarm.debouncer.on, flip, rec.value, rec.quality)
                if t is not None:
                    out.append(t)
        return self._emit(out)

    def tick(self, now: datetime) -> list[Transition]:
        """Time-based transitions: on/off delays run out, timed shelves expire, re-alarm timers fire."""
        return self._emit(self._timers(now))

    def _timers(self, now: datetime) -> list[Transition]:
        self._last_tick = now
        out: list[Transition] = []
        for alarm in self._alarms.values():
            rec, deb = alarm.record, alarm.debouncer
            # apply this alarm's due events in the order they fell due: a shelve that expired before
            # a delay ran out expires first, so the journal's last row of the alarm is its real state
            expiry = rec.shelved_until if rec.shelve is not None and rec.shelve_expired_at(now) else None
            pending = deb.pending_until
            if expiry is not None and (pending is None or expiry <= pending):
                out.append(rec.expire_shelve(now))
                expiry = None
            flip = deb.due(now)
            if flip is not None:
                t = rec.set_condition(deb.on, flip, rec.value, rec.quality)
                if t is not None:
                    out.append(t)
            if expiry is not None and rec.shelve_expired_at(now):
                out.append(rec.expire_shelve(now))
            if rec.re_alarm_s is not None and rec.re_alarm_due(now):
                out.append(rec.re_alarm(now))
        return out

    def _emit(self, out: list[Transition]) -> list[Transition]:
        if out:
            self.stats.transitions += len(out)
            if self._sink is not None:
                self._sink(out)
        return out

    # -- operator actions ----------------------------------------------------------------------
    def _record(self, name: str, action: str) -> AlarmRecord:
        alarm = self._alarms.get(name)
        if alarm is None:
            raise AlarmRefused(name, action, f"no alarm named {name!r}", "Bad_NodeIdUnknown")
        return alarm.record

    def acknowledge(self, names: Iterable[str], user: str, comment: str, now: datetime) -> AckResult:
        """Acknowledge one or many alarms; each refusal is reported with its reason, the rest proceed."""
        result = AckResult()
        for name in names:
            try:
                result.done.append(self._record(name, "acknowledge").acknowledge(now, user, comment))
            except AlarmRefused as exc:
                result.refused[name] = exc
        self._emit(list(result.done))
        return result

    def shelve(self, name: str, user: str, reason: str, now: datetime, duration_s: float | None = None) -> Transition:
        """Shelve one-shot (no duration) or for duration_s seconds; raises AlarmRefused with the reason."""
        return self._one(self._record(name, "shelve").shelve_alarm(now, user, reason, duration_s))

    def unshelve(self, name: str, user: str, comment: str, now: datetime) -> Transition:
        return self._one(self._record(name, "unshelve").unshelve(now, user, comment))

    def remove_from_service(self, name: str, user: str, comment: str, now: datetime) -> Transition:
        return self._one(self._record(name, "remove from service").remove_from_service(now, user, comment))

    def return_to_service(self, name: str, user: str, comment: str, now: datetime) -> Transition:
        return self._one(self._record(name, "return to service").return_to_service(now, user, comment))

    def reset(self, name: str, user: str, comment: str, now: datetime) -> Transition:
        return self._one(self._record(name, "reset").reset(now, user, comment))

    def _one(self, t: Transition) -> Transition:
        self._emit([t])
        return t

    # -- views and restart ---------------------------------------------------------------------
    def names(self) -> list[str]:
        return list(self._alarms)

    def status(self, name: str) -> AlarmStatus:
        alarm = self._alarms.get(name)
        if alarm is None:
            raise KeyError(f"no alarm named {name!r}")
        rec, cfg = alarm.record, alarm.cfg
        return AlarmStatus(cfg.name, cfg.tag, cfg.type, cfg.priority, rec.state, rec.active, rec.acked, rec.latched,
                           rec.value, rec.quality, rec.active_since, rec.shelved_until, rec.shelve_reason,
                           cfg.message)

    def statuses(self) -> list[AlarmStatus]:
        return [self.status(n) for n in self._alarms]

    def annunciated(self) -> list[AlarmStatus]:
        """Alarms an operator must see now (UNACK, ACKED, RTNUN), most urgent first."""
        shown = [s for s in self.statuses() if s.state in (AlarmState.UNACK, AlarmState.ACKED, AlarmState.RTNUN)]
        return sorted(shown, key=lambda s: (s.priority, s.active_since.timestamp() if s.active_since else float("inf")))

    def snapshots(self) -> dict[str, AlarmSnapshot]:
        """The state of every alarm as the journal keeps it (for restore, and for tests)."""
        return {name: a.record.snapshot() for name, a in self._alarms.items()}

    def restore(self, snapshots: Mapping[str, AlarmSnapshot]) -> list[str]:
        """Take the states saved in the journal at start; returns saved names no longer configured."""
        unknown: list[str] = []
        for name, snap in snapshots.items():
            alarm = self._alarms.get(name)
            if alarm is None:
                unknown.append(name)
                continue
            alarm.record.restore(snap)
            # The debounced condition resumes where it was, so the first sample only reports a change.
            alarm.debouncer.on = snap.active
            alarm.detector.raw = snap.active
        return unknown
