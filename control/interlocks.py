"""Supervisory interlocks from the plant file: a tag beyond a limit (or bad) stops outputs or forces MAN.

These act on what the supervisory loop requests; the PLC's own interlocks and watchdog remain the
last line of protection (docs/control.md).
"""

from __future__ import annotations

from dataclasses import dataclass

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

    def _set(self, tripped: bool, reason: str) -> InterlockChange | None:
        if tripped == self.tripped:
            return None
        self.tripped = tripped
        text = f"{self.cfg.message}: {reason}" if self.cfg.message else reason
        return InterlockChange(self.cfg.name, tripped, text)
