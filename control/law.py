"""The extension point for loop kinds: what a loop's algorithm (its control law) offers the loop shell.

The shell (`control.loop.Loop`) owns what every loop shares — modes and bumpless transfer, setpoint
tracking, interlocks, fail-safe hold and substitute, the output rate limit, cascade, events and
persistence. A law owns the algorithm: from PV and setpoint to one output u, how u is spread over
the loop's output tags, and any inputs of its own (feedforward). New kinds register a factory in
`control.kinds`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from control.events import LoopEventKind
from plantctl.samples import Sample

if TYPE_CHECKING:
    from control.compensation import Compensator
    from control.feedforward import Feedforward

Notify = Callable[[datetime, LoopEventKind, str], None]
"""How a law reports something for the loop's event sink (the shell adds the loop's name)."""


@dataclass(frozen=True, slots=True)
class Allocation:
    """The output tags' values for one output u, and the u they amount to after constraints."""

    values: tuple[tuple[str, float], ...]
    applied: float


class ControlLaw(Protocol):
    """A loop's algorithm: update with PV and dt → output; track; limits; reset (bumpless start)."""

    @property
    def inputs(self) -> frozenset[str]:
        """Tags the law reads besides the PV (feedforward, ...)."""
        ...

    @property
    def limits(self) -> tuple[float, float]:
        """Output limits (the loop's output_low/output_high)."""
        ...

    @property
    def active(self) -> bool:
        """True while the law computes (AUTO/CAS with a usable PV)."""
        ...

    @property
    def bias(self) -> float:
        """The open-loop part of the output (feedforward), which keeps following its inputs in a hold."""
        ...

    @property
    def integral(self) -> float:
        """The feedback's integral state, in output units (saved for a bumpless restart)."""
        ...

    @property
    def feedforward_gain(self) -> float:
        """A ratio the law has learnt on line (1.0 when it learns nothing); saved with the loop state."""
        ...

    @property
    def compensator(self) -> Compensator:
        """The map from PV to the controlled variable (identity for most kinds)."""
        ...

    @property
    def feedforward(self) -> Feedforward | None: ...

    def observe(self, now: datetime, latest: Mapping[str, Sample], setpoint: float, stale_after_s: float) -> None:
        """Each period, before the mode logic: read the law's own inputs (feedforward)."""
        ...

    def update(self, now: datetime, pv: Sample, setpoint: float, dt_s: float) -> float:
        """One step with a usable PV: the output u wanted (feedback + bias), before rate limit and constraints."""
        ...

    def reset(self, output: float, integral: float | None = None) -> None:
        """Start computing so that the next update continues from `output` (bumpless); `integral` restores."""
        ...

    def stop(self) -> None:
        """Stop computing (MAN, fail-safe hold): no integral action."""
        ...

    def track(self, applied: float) -> None:
        """Back-calculate the state so that the law's output equals `applied` (what the plant got)."""
        ...

    def freeze_integration(self) -> None:
        """Undo this period's integration: only the rate limit held the output back."""
        ...

    def allocate(self, now: datetime, u: float, pv: Sample | None, stopped: frozenset[str]) -> Allocation:
        """The values of the loop's output tags for u, with `stopped` tags at 0, and the u that amounts to."""
        ...

    def restore_gain(self, gain: float) -> None:
        """Take a learnt ratio back from a saved state (clamped to the law's own limits)."""
        ...
