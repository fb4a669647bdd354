"""A plant file's `diversion:` entry as a runtime block: discharge pH samples in, valve and return pump out.

The decision is control.diversion's (divert at once, return with dwell and hysteresis); this block
feeds it the worst of the discharge measurements — any one off-spec, Bad or stale diverts, and the
outfall reopens only when every one has been inside the return band — and runs the return pump
that sends held water back for retreatment once the outfall has been open a while. With `outvote:`
a single electrode that is Bad, stale, or departs for `delay_s` from a loop's vote of three agreeing
electrodes in the same water is overruled (alarmed): three agreeing outweigh one, so a failed or
drifting discharge electrode no longer sends the whole flow to the holding tank.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from control.diversion import DiversionController, DiversionEvent, DiversionSettings, DiversionState
from control.events import EventSink, LoopEvent, LoopEventKind
from control.loop import OutputRequest
from plantctl.config.models import DiversionConfig
from plantctl.quality import Quality
from plantctl.samples import Sample


class DiversionBlock:
    """One diversion valve with its holding tank and return pump."""

    def __init__(self, cfg: DiversionConfig, events: EventSink) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self._emit = events
        self.controller = DiversionController(DiversionSettings(
            divert_low_ph=cfg.divert_low_ph, divert_high_ph=cfg.divert_high_ph, return_low_ph=cfg.return_low_ph,
            return_high_ph=cfg.return_high_ph, return_s=cfg.return_s, min_divert_s=cfg.min_divert_s,
            stale_after_s=cfg.stale_after_s, holding_full_pct=cfg.holding_full_pct,
            holding_room_pct=cfg.holding_room_pct), events=self._on_change)
        self._latest: dict[str, Sample] = {}
        self._in_vote: dict[str, int] = {}  # a loop among the measurements → electrodes in its vote
        self._disagree_since: dict[str, datetime] = {}
        self.outvoted: dict[str, str] = {}  # electrode → why it is overruled
        self._outfall_since: datetime | None = None
        self._first: datetime | None = None
        self.returning = False
        tags = {*cfg.ph}
        if cfg.holding_level is not None:
            tags.add(cfg.holding_level)
        if cfg.flow is not None:
            tags.add(cfg.flow)
        self.inputs = frozenset(tags)

    @property
    def period_s(self) -> float:
        return self.cfg.period_s

    @property
    def state(self) -> DiversionState:
        return self.controller.state

    def on_sample(self, sample: Sample) -> None:
        if sample.tag in self.inputs:
            self._latest[sample.tag] = sample

    def on_vote(self, sample: Sample, in_vote: int) -> None:
        """A loop's voted PV among the measurements, with how many electrodes it was taken from."""
        self._latest[sample.tag] = sample
        self._in_vote[sample.tag] = in_vote

    def _full_vote(self, now: datetime) -> Sample | None:
        """A loop's vote of three electrodes, Good and fresh: what a single electrode can be judged against."""
        for tag, n in self._in_vote.items():
            smp = self._latest.get(tag)
            if n >= 3 and smp is not None and smp.quality.is_good and smp.usable(now, self.cfg.stale_after_s):
                return smp
        return None

    def _is_outvoted(self, now: datetime, tag: str, smp: Sample | None, vote: Sample | None) -> bool:
        ov = self.cfg.outvote
        why: str | None = None
        if ov is None or vote is None or tag in self._in_vote or smp is None:  # None: start-up, it diverts
            self._disagree_since.pop(tag, None)
        elif not smp.usable(now, self.cfg.stale_after_s):
            why = f"{tag} {smp.why_unusable(now, self.cfg.stale_after_s)}"
        elif abs(smp.value - vote.value) > ov.ph:
            since = self._disagree_since.setdefault(tag, now)
            if (now - since).total_seconds() >= ov.delay_s or tag in self.outvoted:
                why = (f"{tag} reads {smp.value:.2f}, {vote.tag}'s three electrodes {vote.value:.2f}: more than "
                       f"{ov.ph:g} pH apart for {ov.delay_s:g} s")
        elif tag in self.outvoted and abs(smp.value - vote.value) > ov.ph / 2:  # hysteresis: back within half
            why = self.outvoted[tag]
        else:
            self._disagree_since.pop(tag, None)
        if why is not None and tag not in self.outvoted:
            self._emit(LoopEvent(now, self.name, LoopEventKind.DISCHARGE_OUTVOTED,
                                 f"{why}: overruled, the discharge is judged on {vote.tag if vote else '?'}; check "
                                 f"{tag}", data={"electrode": tag}))
        elif why is None and tag in self.outvoted:
            self._emit(LoopEvent(now, self.name, LoopEventKind.DISCHARGE_OUTVOTE_CLEARED,
                                 f"{tag} usable and in agreement again: it counts again", data={"electrode": tag}))
        if why is None:
            self.outvoted.pop(tag, None)
        else:
            self.outvoted[tag] = why
        return why is not None

    def _worst(self, now: datetime) -> Sample | None:
        """The measurement the decision rests on: a missing, Bad or stale one first, else the one farthest
        from the middle of the return band — Uncertain when any of them is (it keeps the outfall shut, since
        returning needs Good, but never hides another measurement that is off-spec)."""
        mid = (self.cfg.return_low_ph + self.cfg.return_high_ph) / 2.0
        worst: Sample | None = None
        doubtful: Sample | None = None
        vote = self._full_vote(now)
        for tag in self.cfg.ph:
            smp = self._latest.get(tag)
            if self._is_outvoted(now, tag, smp, vote):
                continue
            if smp is None or not smp.usable(now, self.cfg.stale_after_s):
                return smp
            if not smp.quality.is_good:
                doubtful = smp
            if worst is None or abs(smp.value - mid) > abs(worst.value - mid):
                worst = smp
        if worst is not None and doubtful is not None and worst.quality.is_good:
            worst = replace(worst, quality=Quality.UNCERTAIN, reason=f"{doubtful.tag} uncertain: {doubtful.reason}")
        return worst

    def _level(self, now: datetime) -> float | None:
        tag = self.cfg.holding_level
        if tag is None:
            return 0.0  # no holding tank level configured: room is assumed (say so in the plant file)
        smp = self._latest.get(tag)
        if smp is None and self._first is not None and (now - self._first).total_seconds() < self.cfg.stale_after_s:
            return 0.0  # at start-up the links deliver their first values: not yet "nowhere to go" (it diverts)
        if smp is None or not smp.usable(now, self.cfg.stale_after_s):
            return None
        return smp.value

    def execute(self, now: datetime, dt_s: float) -> list[OutputRequest]:
        """One period: where the discharge goes, and the return pump."""
        if self._first is None:
            self._first = now
        flow = self._latest.get(self.cfg.flow) if self.cfg.flow is not None else None
        flow_l_s = flow.value / 3.6 if flow is not None and not flow.quality.is_bad else 0.0
        level = self._level(now)
        state = self.controller.update(now, self._worst(now), flow_l_s, dt_s, level)
        out = [OutputRequest(self.name, self.cfg.valve, 1.0 if self.controller.divert else 0.0, "")]
        if state is DiversionState.OUTFALL:
            if self._outfall_since is None:
                self._outfall_since = now
        else:
            self._outfall_since = None
        rp = self.cfg.return_pump
        if rp is not None:
            settled = self._outfall_since is not None and \
                (now - self._outfall_since).total_seconds() >= rp.after_outfall_s
            if not settled or level is None or level <= rp.stop_level_pct:
                self.returning = False
            elif level >= rp.start_level_pct:
                self.returning = True
            out.append(OutputRequest(self.name, rp.sp, rp.speed_pct if self.returning else 0.0, "%"))
            if rp.run is not None:
                out.append(OutputRequest(self.name, rp.run, 1.0 if self.returning else 0.0, ""))
        return out

    def _on_change(self, ev: DiversionEvent) -> None:
        self._emit(LoopEvent(ev.ts, self.name, LoopEventKind.DIVERSION_CHANGE,
                             f"{ev.old.value} → {ev.new.value}: {ev.reason}",
                             data={"old": ev.old.value, "new": ev.new.value}))
