"""All loops of a plant: routes samples, runs cascade primaries before their secondaries, wires CAS."""

from __future__ import annotations

from datetime import datetime

from control.diversion_block import DiversionBlock
from control.events import EventSink
from control.flow_law import FlowLaw
from control.loop import Loop, OutputRequest
from control.meter_fallback import MeterFallback
from plantctl.config.models import LoopMode, PlantConfig
from plantctl.samples import Sample


class LoopGroup:
    """The plant's loops in execution order; a primary's output is its secondary's remote setpoint."""

    def __init__(self, plant: PlantConfig, events: EventSink) -> None:
        self.loops = {cfg.name: Loop.from_plant(plant, cfg.name, events) for cfg in plant.loops}
        self.secondary_of = {cfg.cas_source: cfg.name for cfg in plant.loops
                             if cfg.cas_source is not None and cfg.cas_source in self.loops}
        order: list[str] = []
        pending = list(self.loops)
        while pending:  # primaries first; the plant-file check refuses self-cascades
            progressed = False
            for name in list(pending):
                src = self.loops[name].cfg.cas_source
                if src not in self.loops or src in order:
                    order.append(name)
                    pending.remove(name)
                    progressed = True
            if not progressed:
                raise ValueError(f"cascade cycle among loops {', '.join(pending)}")
        self.order = order
        self.diversions = {cfg.name: DiversionBlock(cfg, events) for cfg in plant.diversion}
        # flow loops that fall back to their pump's calibration when the meter is Bad, stale or frozen
        self.fallbacks = {cfg.name: MeterFallback(cfg.name, cfg.pv, cfg.mv[0], cfg.meter_fallback,
                                                  cfg.fail_safe.stale_after_s, events)
                          for cfg in plant.loops if cfg.meter_fallback is not None}
        self._to_secondary: dict[str, float] = {}  # secondary loop → its primary's last allocation to it

    @property
    def inputs(self) -> frozenset[str]:
        return frozenset({*(t for lp in self.loops.values() for t in lp.inputs),
                          *(t for d in self.diversions.values() for t in d.inputs)})

    def on_sample(self, sample: Sample) -> None:
        for lp in self.loops.values():
            if sample.tag in lp.inputs:
                lp.on_sample(sample)
        for d in self.diversions.values():
            if sample.tag in d.inputs:
                d.on_sample(sample)
        for fb in self.fallbacks.values():
            fb.on_sample(sample)

    def period_of(self, name: str) -> float:
        """The period of a loop or a diversion block."""
        return self.loops[name].cfg.period_s if name in self.loops else self.diversions[name].period_s

    @property
    def blocks(self) -> list[str]:
        """Everything that runs periodically: loops in cascade order, then the diversion valves."""
        return [*self.order, *self.diversions]

    def _remote_from(self, primary: Loop, secondary: Loop) -> float:
        """A primary's signal to one secondary, in the primary's output unit: its allocation to the
        secondary when the secondary is one of its outputs (a split range's high side), else its output."""
        return self._to_secondary.get(secondary.name, primary.output)

    def execute(self, now: datetime, dt_s: float) -> list[OutputRequest]:
        """One period of every loop, in order; cascade setpoints pass within the same period."""
        out: list[OutputRequest] = []
        for name in self.blocks:
            out.extend(self.execute_loop(name, now, dt_s))
        return out

    def execute_loop(self, name: str, now: datetime, dt_s: float) -> list[OutputRequest]:
        """One period of one loop, with its cascade wiring (remote setpoint in, primary tracking out);
        or of a diversion block."""
        if name in self.diversions:
            block = self.diversions[name]
            for measured in block.cfg.ph:  # a loop named among the discharge measurements gives its voted PV
                voted = self.loops[measured].vote if measured in self.loops else None
                if voted is not None:
                    block.on_vote(voted.sample(measured, now), len(voted.in_vote))
            return block.execute(now, dt_s)
        lp = self.loops[name]
        src = lp.cfg.cas_source
        scale = lp.cfg.cas_scale
        if src in self.loops:
            lp.set_remote_setpoint(self._remote_from(self.loops[src], lp) * scale)
        fallback = self.fallbacks.get(name)
        if fallback is not None:  # the meter unusable or frozen: the loop controls on the inferred flow
            was = fallback.active
            inferred = fallback.substitute(now, lp.output)
            if fallback.active != was and isinstance(lp.law, FlowLaw):
                lp.law.restart_cycle(now)  # a pulse cycle's average must not mix inferred and measured flow
            if inferred is not None:
                lp.on_sample(inferred)
        out: list[OutputRequest] = []
        for req in lp.execute(now, dt_s):
            if req.tag in self.loops:  # an output that is a secondary loop's setpoint: passed, not written
                self._to_secondary[req.tag] = req.value
            else:
                out.append(req)
        if src in self.loops and lp.mode is not LoopMode.CAS:
            self.loops[src].track_output(lp.setpoint / scale)  # the primary waits at the secondary's setpoint
        return out
