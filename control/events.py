"""Events a loop raises (mode change, interlock, fail-safe) so the lead can journal and audit them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class LoopEventKind(StrEnum):
    MODE_CHANGE = "mode_change"
    MODE_REFUSED = "mode_refused"
    SETPOINT_CHANGE = "setpoint_change"
    OUTPUT_CHANGE = "output_change"  # operator output in MAN
    INTERLOCK_TRIP = "interlock_trip"
    INTERLOCK_CLEAR = "interlock_clear"
    FAIL_SAFE_HOLD = "fail_safe_hold"  # PV bad/stale: last output held
    FAIL_SAFE_SUBSTITUTE = "fail_safe_substitute"  # hold expired: substitute output, mode MAN
    PV_RECOVERED = "pv_recovered"
    FEEDFORWARD_BAD = "feedforward_bad"
    FEEDFORWARD_RECOVERED = "feedforward_recovered"
    RESTORED = "restored"  # state resumed after a restart
    OUTPUT_WRITE_FAILED = "output_write_failed"  # the connector refused or did not answer (once per streak)
    OUTPUT_WRITE_RECOVERED = "output_write_recovered"
    FLOW_DEVIATION = "flow_deviation"  # an inner flow loop cannot hold its setpoint (pump wear, air lock)
    FLOW_DEVIATION_CLEARED = "flow_deviation_cleared"
    METER_FALLBACK = "meter_fallback"  # a flow loop's meter Bad, stale or frozen: the pump runs on its calibration
    METER_RESTORED = "meter_restored"  # the meter usable again: the loop is back on it, bumplessly
    # the voted PV (control.voting): one kind per VoteEventKind
    ELECTRODE_DEVIATION = "electrode_deviation"  # departs from the other two; still votes
    ELECTRODE_DEVIATION_CLEARED = "electrode_deviation_cleared"
    ELECTRODE_REMOVED = "electrode_removed"  # taken out of the vote, with its fault
    ELECTRODE_READMITTED = "electrode_readmitted"
    VOTE_LOST = "vote_lost"  # fewer than two electrodes: the PV is Bad, the loop takes its fail-safe
    VOTE_RESTORED = "vote_restored"
    GAIN_CUT = "gain_cut"  # the oscillation guard cut the loop gain (control.oscillation)
    TITRATION_ADOPTED = "titration_adopted"  # a lab titration refined the curve in use
    SETPOINT_SHIFT = "setpoint_shift"  # the working setpoint left or returned to the operator's (setpoint_shift:)
    # a diversion valve (control.diversion)
    DIVERSION_CHANGE = "diversion_change"
    DISCHARGE_OUTVOTED = "discharge_outvoted"  # a single discharge electrode overruled by a full vote (diversion)
    DISCHARGE_OUTVOTE_CLEARED = "discharge_outvote_cleared"


@dataclass(frozen=True, slots=True)
class LoopEvent:
    """One thing that happened to a loop, with who or what caused it and why; `ts` is aware UTC."""

    ts: datetime
    loop: str
    kind: LoopEventKind
    reason: str
    actor: str = "loop"  # "loop" for automatic actions, else the operator / API caller
    data: dict[str, float | str] = field(default_factory=dict)


EventSink = Callable[[LoopEvent], None]
"""Receives every loop event; must return at once (the lead's journal queues it)."""


class EventLog:
    """An event sink that keeps events in memory: for tests, the bench and the tuning tool."""

    def __init__(self) -> None:
        self.events: list[LoopEvent] = []

    def __call__(self, event: LoopEvent) -> None:
        self.events.append(event)

    def of(self, kind: LoopEventKind) -> list[LoopEvent]:
        return [e for e in self.events if e.kind is kind]
