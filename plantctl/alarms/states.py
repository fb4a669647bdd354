"""The ISA-18.2 alarm state machine, pure: every change of state or operator action yields one Transition.

States and their abbreviations follow the ANSI/ISA-18.2 alarm state transition diagram:
NORM (A), UNACK (B), ACKED (C), RTNUN (D), SHLVD (E), DSUPR (F), OOSRV (G); a latched alarm
(state H) shows as UNACK/ACKED until an operator resets it. Operator methods and their refusals
mirror OPC UA Part 9 (AlarmConditionType §5.8.2, Acknowledge §5.7.3, ShelvedStateMachineType
§5.8.10), whose status codes name the refusals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from plantctl.quality import Quality


class AlarmState(StrEnum):
    """What an operator sees; masking states (OOSRV > DSUPR > SHLVD) hide the annunciation states."""

    NORM = "NORM"
    UNACK = "UNACK"
    ACKED = "ACKED"
    RTNUN = "RTNUN"
    SHLVD = "SHLVD"
    DSUPR = "DSUPR"
    OOSRV = "OOSRV"


ANNUNCIATED = frozenset({AlarmState.UNACK, AlarmState.ACKED, AlarmState.RTNUN})


class ShelveKind(StrEnum):
    """OPC UA Part 9 §5.8.10: OneShotShelved ends at return to normal, TimedShelved at its expiry."""

    ONE_SHOT = "one_shot"
    TIMED = "timed"


class AlarmEvent(StrEnum):
    """Why a journal row was written: a process change, a timer, or an operator action."""

    ACTIVATE = "activate"
    CLEAR = "clear"
    RE_ALARM = "re_alarm"
    ACK = "ack"
    RESET = "reset"
    SHELVE = "shelve"
    UNSHELVE = "unshelve"
    SHELVE_EXPIRED = "shelve_expired"
    SUPPRESS = "suppress"
    UNSUPPRESS = "unsuppress"
    OUT_OF_SERVICE = "out_of_service"
    IN_SERVICE = "in_service"


OPERATOR_EVENTS = frozenset({AlarmEvent.ACK, AlarmEvent.RESET, AlarmEvent.SHELVE, AlarmEvent.UNSHELVE,
                             AlarmEvent.OUT_OF_SERVICE, AlarmEvent.IN_SERVICE})


class AlarmRefused(Exception):
    """An operator action that the alarm's state does not allow; `reason` is for the operator."""

    def __init__(self, alarm: str, action: str, reason: str, code: str = "Bad_InvalidState") -> None:
        self.alarm = alarm
        self.action = action
        self.reason = reason
        self.code = code
        super().__init__(f"{action} {alarm}: {reason} ({code})")


@dataclass(frozen=True, slots=True)
class AlarmSnapshot:
    """Everything needed to restore one alarm after a restart; stored with every journal row."""

    active: bool
    acked: bool
    latched: bool
    shelve: ShelveKind | None
    shelved_until: datetime | None
    shelve_reason: str
    suppressed: bool
    out_of_service: bool
    active_since: datetime | None
    acked_at: datetime | None


@dataclass(frozen=True, slots=True)
class Transition:
    """One journal entry: an alarm's state change or an operator action on it."""

    ts: datetime
    alarm: str
    event: AlarmEvent
    old_state: AlarmState
    new_state: AlarmState
    priority: int
    value: float | None
    unit: str
    quality: Quality | None
    user: str
    comment: str
    snapshot: AlarmSnapshot


class AlarmRecord:
    """The live state of one alarm; methods apply one event and return its Transition (or raise AlarmRefused)."""

    __slots__ = ("acked", "acked_at", "active", "active_since", "latched", "latching", "name", "out_of_service",
                 "priority", "quality", "re_alarm_s", "shelve", "shelve_max_s", "shelve_reason", "shelved_until",
                 "suppressed", "unit", "value")

    def __init__(self, name: str, priority: int = 3, *, latching: bool = False, re_alarm_s: float | None = None,
                 shelve_max_s: float = 8 * 3600, unit: str = "") -> None:
        self.name = name
        self.unit = unit  # of the alarmed tag's value
        self.priority = priority
        self.latching = latching
        self.re_alarm_s = re_alarm_s
        self.shelve_max_s = shelve_max_s
        self.active = False  # the process condition, after on/off delays
        self.acked = True
        self.latched = False  # condition cleared, held in alarm until reset (ISA-18.2 state H)
        self.shelve: ShelveKind | None = None
        self.shelved_until: datetime | None = None
        self.shelve_reason = ""
        self.suppressed = False
        self.out_of_service = False
        self.active_since: datetime | None = None
        self.acked_at: datetime | None = None
        self.value: float | None = None
        self.quality: Quality | None = None

    # -- derived state ------------------------------------------------------------------------
    @property
    def masked(self) -> bool:
        return self.out_of_service or self.suppressed or self.shelve is not None

    @property
    def in_alarm(self) -> bool:
        return self.active or self.latched

    @property
    def state(self) -> AlarmState:
        if self.out_of_service:
            return AlarmState.OOSRV
        if self.suppressed:
            return AlarmState.DSUPR
        if self.shelve is not None:
            return AlarmState.SHLVD
        if self.in_alarm:
            return AlarmState.ACKED if self.acked else AlarmState.UNACK
        return AlarmState.NORM if self.acked else AlarmState.RTNUN

    def snapshot(self) -> AlarmSnapshot:
        return AlarmSnapshot(self.active, self.acked, self.latched, self.shelve, self.shelved_until,
                             self.shelve_reason, self.suppressed, self.out_of_service, self.active_since,
                             self.acked_at)

    def restore(self, snap: AlarmSnapshot) -> None:
        """Take the state saved in the journal (restart); configuration (priority, latching) stays ours."""
        self.active, self.acked, self.latched = snap.active, snap.acked, snap.latched
        self.shelve, self.shelved_until, self.shelve_reason = snap.shelve, snap.shelved_until, snap.shelve_reason
        self.suppressed, self.out_of_service = snap.suppressed, snap.out_of_service
        self.active_since, self.acked_at = snap.active_since, snap.acked_at

    def _emit(self, ts: datetime, event: AlarmEvent, old: AlarmState, user: str = "", comment: str = "") -> Transition:
        return Transition(ts, self.name, event, old, self.state, self.priority, self.value, self.unit, self.quality,
                          user, comment, self.snapshot())

    def _refuse(self, action: str, reason: str, code: str = "Bad_InvalidState") -> AlarmRefused:
        return AlarmRefused(self.name, action, reason, code)

    def _unmasked(self) -> None:
        """Leaving the last masking state re-annunciates a still-active condition (ISA-18.2: E/F/G → A or B)."""
        if not self.masked:
            self.latched = False
            self.acked = not self.active
            self.acked_at = None

    # -- process side --------------------------------------------------------------------------
    def set_condition(self, active: bool, ts: datetime, value: float | None = None,
                      quality: Quality | None = None) -> Transition | None:
        """The debounced condition changed; None when it did not (no journal row)."""
        self.value, self.quality = value, quality
        if active == self.active:
            return None
        old = self.state
        self.active = active
        if active:
            self.active_since = ts
            self.latched = False
            if not self.masked:
                self.acked = False  # B: a new activation is unacknowledged (also from RTNUN and latched)
                self.acked_at = None
            return self._emit(ts, AlarmEvent.ACTIVATE, old)
        self.active_since = None
        if self.masked:
            if self.shelve is ShelveKind.ONE_SHOT:
                # OPC UA Part 9 §5.8.10: a one-shot shelve ends when the alarm returns to normal.
                self.shelve, self.shelved_until, self.shelve_reason = None, None, ""
                self._unmasked()
                return self._emit(ts, AlarmEvent.UNSHELVE, old, comment="one-shot shelve ended: returned to normal")
            return self._emit(ts, AlarmEvent.CLEAR, old)
        if self.latching:
            self.latched = True  # ISA-18.2 latched alarm: stays in alarm until reset
        return self._emit(ts, AlarmEvent.CLEAR, old)

    def re_alarm_due(self, now: datetime) -> bool:
        return (self.re_alarm_s is not None and self.active and self.acked and not self.masked
                and self.acked_at is not None and now - self.acked_at >= timedelta(seconds=self.re_alarm_s))

    def re_alarm(self, now: datetime) -> Transition:
        """OPC UA Part 9 §5.8.2 ReAlarmTime: an acknowledged alarm still active annunciates again."""
        if not self.re_alarm_due(now):
            raise self._refuse("re-alarm", "re-alarm is not due")
        assert self.acked_at is not None and self.re_alarm_s is not None
        old = self.state
        self.acked, self.acked_at = False, None
        return self._emit(now, AlarmEvent.RE_ALARM, old)

    def shelve_expired_at(self, now: datetime) -> bool:
        return self.shelve is ShelveKind.TIMED and self.shelved_until is not None and now >= self.shelved_until

    def expire_shelve(self, now: datetime) -> Transition:
        if not self.shelve_expired_at(now):
            raise self._refuse("expire shelve", "no timed shelve has expired", "Bad_ConditionNotShelved")
        assert self.shelved_until is not None
        ts, old = self.shelved_until, self.state
        self.shelve, self.shelved_until, self.shelve_reason = None, None, ""
        self._unmasked()
        return self._emit(ts, AlarmEvent.SHELVE_EXPIRED, old, comment="timed shelve expired")

    def set_suppressed(self, suppressed: bool, ts: datetime) -> Transition | None:
        """Designed suppression (ISA-18.2 §12, state-based): set by a plant condition, not by an operator."""
        if suppressed == self.suppressed:
            return None
        old = self.state
        self.suppressed = suppressed
        if not suppressed:
            self._unmasked()
            return self._emit(ts, AlarmEvent.UNSUPPRESS, old)
        return self._emit(ts, AlarmEvent.SUPPRESS, old)

    # -- operator side -------------------------------------------------------------------------
    def _need_user(self, action: str, user: str) -> None:
        if not user.strip():
            raise self._refuse(action, "an operator action needs the user who takes it", "Bad_UserAccessDenied")

    def acknowledge(self, ts: datetime, user: str, comment: str = "") -> Transition:
        """OPC UA Part 9 §5.7.3 Acknowledge: UNACK → ACKED, RTNUN → NORM."""
        self._need_user("acknowledge", user)
        state = self.state
        if state is AlarmState.NORM:
            raise self._refuse("acknowledge", "the alarm is normal: nothing to acknowledge",
                               "Bad_ConditionBranchAlreadyAcked")
        if state is AlarmState.ACKED:
            raise self._refuse("acknowledge", "the alarm is already acknowledged", "Bad_ConditionBranchAlreadyAcked")
        if state not in ANNUNCIATED:
            raise self._refuse("acknowledge", f"the alarm is {_MASK_WORDS[state]}: nothing is annunciated")
        self.acked, self.acked_at = True, ts
        return self._emit(ts, AlarmEvent.ACK, state, user, comment)

    def reset(self, ts: datetime, user: str, comment: str = "") -> Transition:
        """Operator reset of a latched alarm (ISA-18.2 state H → A) once acknowledged and back to normal."""
        self._need_user("reset", user)
        if not self.latched:
            raise self._refuse("reset", "the alarm is not latched")
        if self.masked:
            raise self._refuse("reset", f"the alarm is {_MASK_WORDS[self.state]}")
        if not self.acked:
            raise self._refuse("reset", "acknowledge the alarm before resetting it")
        old = self.state
        self.latched, self.acked_at = False, None
        return self._emit(ts, AlarmEvent.RESET, old, user, comment)

    def shelve_alarm(self, ts: datetime, user: str, reason: str, duration_s: float | None = None) -> Transition:
        """Shelve one-shot (duration_s None) or timed (OPC UA Part 9 §5.8.10 OneShotShelve / TimedShelve)."""
        self._need_user("shelve", user)
        if not reason.strip():
            raise self._refuse("shelve", "shelving needs a reason (ISA-18.2: shelving is a recorded, authorised act)",
                               "Bad_InvalidArgument")
        if self.shelve is not None:
            raise self._refuse("shelve", f"the alarm is already shelved ({self.shelve.value})",
                               "Bad_ConditionAlreadyShelved")
        if self.out_of_service:
            raise self._refuse("shelve", "the alarm is out of service")
        if duration_s is None:
            if not self.active:
                raise self._refuse("shelve", "a one-shot shelve needs an active alarm "
                                             "(it ends when the alarm returns to normal); use a timed shelve")
            kind, until = ShelveKind.ONE_SHOT, None
        else:
            if not 0 < duration_s <= self.shelve_max_s:
                raise self._refuse("shelve", f"shelve time {duration_s:g} s is outside (0, {self.shelve_max_s:g}] s "
                                             "(the alarm's shelve_max_s)", "Bad_ShelvingTimeOutOfRange")
            kind, until = ShelveKind.TIMED, ts + timedelta(seconds=duration_s)
        old = self.state
        self.shelve, self.shelved_until, self.shelve_reason = kind, until, reason
        return self._emit(ts, AlarmEvent.SHELVE, old, user, reason)

    def unshelve(self, ts: datetime, user: str, comment: str = "") -> Transition:
        self._need_user("unshelve", user)
        if self.shelve is None:
            raise self._refuse("unshelve", "the alarm is not shelved", "Bad_ConditionNotShelved")
        old = self.state
        self.shelve, self.shelved_until, self.shelve_reason = None, None, ""
        self._unmasked()
        return self._emit(ts, AlarmEvent.UNSHELVE, old, user, comment)

    def remove_from_service(self, ts: datetime, user: str, comment: str) -> Transition:
        """Out of service (ISA-18.2 state G): maintenance, with a recorded reason."""
        self._need_user("remove from service", user)
        if not comment.strip():
            raise self._refuse("remove from service", "taking an alarm out of service needs a reason",
                               "Bad_InvalidArgument")
        if self.out_of_service:
            raise self._refuse("remove from service", "the alarm is already out of service")
        old = self.state
        self.out_of_service = True
        return self._emit(ts, AlarmEvent.OUT_OF_SERVICE, old, user, comment)

    def return_to_service(self, ts: datetime, user: str, comment: str = "") -> Transition:
        self._need_user("return to service", user)
        if not self.out_of_service:
            raise self._refuse("return to service", "the alarm is in service")
        old = self.state
        self.out_of_service = False
        self._unmasked()
        return self._emit(ts, AlarmEvent.IN_SERVICE, old, user, comment)


_MASK_WORDS = {AlarmState.SHLVD: "shelved", AlarmState.DSUPR: "suppressed by design",
               AlarmState.OOSRV: "out of service", AlarmState.NORM: "normal", AlarmState.UNACK: "unacknowledged",
               AlarmState.ACKED: "acknowledged", AlarmState.RTNUN: "returned to normal unacknowledged"}
