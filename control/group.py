"""All loops of a plant: routes samples, runs cascade primaries before their secondaries, wires CAS."""

from __future__ import annotations

from datetime import datetime

from control.events import EventSink
from control.loop import Loop, OutputRequest
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

    @property
    def inputs(self) -> frozenset[str]:
        return frozenset(t for lp in self.loops.values() for t in lp.inputs)

    def on_sample(self, sample: Sample) -> None:
        for lp in self.loops.values():
            if sample.tag in lp.inputs:
                lp.on_sample(sample)

    def execute(self, now: datetime, dt_s: float) -> list[OutputRequest]:
        """One period of every loop, in order; cascade setpoints pass within the same period."""
        out: list[OutputRequest] = []
        for name in self.order:
            out.extend(self.execute_loop(name, now, dt_s))
        return out

    def execute_loop(self, name: str, now: datetime, dt_s: float) -> list[OutputRequest]:
        """One period of one loop, with its cascade wiring (remote setpoint in, primary tracking out)."""
        lp = self.loops[name]
        src = lp.cfg.cas_source
        if src in self.loops:
            lp.set_remote_setpoint(self.loops[src].output)
        out = lp.execute(now, dt_s)
        if src in self.loops and lp.mode is not LoopMode.CAS:
            self.loops[src].track_output(lp.setpoint)  # the primary waits at the secondary's setpoint
        return out
