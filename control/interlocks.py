"""Supervisory interlocks from the plant file: a tag beyond a limit (or bad) stops outputs or forces MAN.

These act on what the supervisory loop requests; the PLC's own interlocks and watchdog remain the
last line of protection (docs/control.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from control.voting import TwoOutOfThree
from plantctl.config.models import InterlockAction, InterlockConfig
from plantctl.samples import Sample


@dataclass(frozen=True, slots=True)
class InterlockChange:
    """An interlock that tripped or cleared on this evaluation, with the reason in plant terms."""

    name: str
    tripped: bool
    reason: str


class Interlock:
    """One interlock with hysteresis: trips beyond the limit, clears `deadband` back inside it."""

    def __init__(self, cfg: InterlockConfig, loop_outputs: list[str]) -> None:
        self.cfg = cfg
        self.outputs: tuple[str, ...] = tuple(cfg.outputs or loop_outputs)
        self.tripped = False
        self.tags: tuple[str, ...] = (cfg.tag, *cfg.voted_with)

    @property
    def inputs(self) -> tuple[str, ...]:
        """The channels and the spare (when there is one)."""
        return (*self.tags, *((self.cfg.spare,) if self.cfg.spare is not None else ()))

    @property
    def voted(self) -> bool:
        """Two out of three electrodes decide (`voted_with:`), not one."""
        return len(self.tags) == 3

    @property
    def forces_manual(self) -> bool:
        return self.cfg.action is InterlockAction.FORCE_MANUAL

    def evaluate(self, sample: Sample | None) -> InterlockChange | None:
        """New state from the latest sample of the tag; a change (trip / clear) or None."""
        cfg = self.cfg
        if sample is None or sample.quality.is_bad:
            if cfg.on_bad_quality == "ignore":
                return None
            why = "no value yet" if sample is None else (sample.reason or sample.quality.reason)
            return self._set(True, f"{cfg.tag} unusable ({why}): tripped on bad quality")
        v = sample.value
        if cfg.above is not None:
            limit = cfg.above
            if v > limit:
                return self._set(True, f"{cfg.tag} = {v:g} above {limit:g}")
            if v <= limit - cfg.deadband:
                return self._set(False, f"{cfg.tag} = {v:g} back at or below {limit - cfg.deadband:g}")
        else:
            assert cfg.below is not None
            limit = cfg.below
            if v < limit:
                return self._set(True, f"{cfg.tag} = {v:g} below {limit:g}")
            if v >= limit + cfg.deadband:
                return self._set(False, f"{cfg.tag} = {v:g} back at or above {limit + cfg.deadband:g}")
        return None

    def evaluate_voted(self, now: datetime, samples: Sequence[Sample | None],
                       stale_after_s: float, spare: Sample | None = None) -> InterlockChange | None:
        """2oo3: trips when two of the three channels are beyond the limit (a bad or stale one counts as
        beyond with on_bad_quality trip, and not at all with ignore); clears `deadband` back inside. A usable
        spare stands in for the first unusable channel."""
        cfg = self.cfg
        gone = [i for i, smp in enumerate(samples) if smp is None or not smp.usable(now, stale_after_s)]
        if gone and spare is not None and spare.usable(now, stale_after_s):
            samples = [spare if i == gone[0] else smp for i, smp in enumerate(samples)]
        above = cfg.above is not None
        limit = cfg.above if cfg.above is not None else cfg.below
        assert limit is not None
        vote = TwoOutOfThree(limit, above, cfg.deadband, stale_after_s, self.tripped,
                             bad_counts_as_trip=cfg.on_bad_quality == "trip")
        tripped = vote.evaluate(now, samples)
        shown = ", ".join(f"{tag if smp is None else smp.tag} = "
                          f"{'bad' if smp is None or smp.quality.is_bad else f'{smp.value:g}'}"
                          for tag, smp in zip(self.tags, samples, strict=True))
        side = "above" if above else "below"
        if tripped:
            return self._set(True, f"2 of 3 {side} {limit:g} ({shown})")
        edge = limit - cfg.deadband if above else limit + cfg.deadband
        return self._set(False, f"fewer than 2 of 3 {side} {edge:g} ({shown})")

    def _set(self, tripped: bool, reason: str) -> InterlockChange | None:
        if tripped == self.tripped:
            return None
        self.tripped = tripped
        text = f"{self.cfg.message}: {reason}" if self.cfg.message else reason
        return InterlockChange(self.cfg.name, tripped, text)
