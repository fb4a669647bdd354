"""The registry of loop kinds: the `kind:` of a loop in the plant file → the factory of its control law.

A new kind is a law module satisfying `control.law.ControlLaw`, a value of `LoopKind` in the plant
schema (so the plant file is checked with file and line) and one line here.
"""

from __future__ import annotations

from collections.abc import Callable

from control.flow_law import FlowLaw
from control.law import ControlLaw, Notify
from control.ph_law import PhLaw
from plantctl.config.models import LoopConfig, LoopKind

LawFactory = Callable[[LoopConfig, Notify], ControlLaw]

LAWS: dict[LoopKind, LawFactory] = {
    LoopKind.PH: PhLaw,
    LoopKind.FLOW: FlowLaw,
}


def build_law(cfg: LoopConfig, notify: Notify) -> ControlLaw:
    """The control law of a loop, by its kind."""
    factory = LAWS.get(cfg.kind)
    if factory is None:
        raise ValueError(f"loop {cfg.name}: no control law registered for kind {cfg.kind.value!r}")
    return factory(cfg, notify)
