"""The one gate every write to the plant passes: policy in one place, then the source, then a typed outcome.

Writers are told apart by their *origin*: an operator (user, role, address, reason) through the API, a
control loop through its runner, or a source's supervisory heartbeat. Policy (known tag, writable, finite,
in range, bits 0/1, heartbeat tags for the heartbeat only, loop ownership, role) is decided here and
nowhere else; a refusal is `WriteOutcome` REFUSED_BY_POLICY with a machine-readable `code` (PolicyCode).

Operator writes are audited with the order "reserve, write, record": `AuditTrail.reserve()` fails
(AuditNotDurableError) before anything leaves the service when the record could not be made durable, so a
write is either sent *and* audited or refused. Every write that may have changed the plant is recorded with its
outcome: accepted, timed out, or link lost during the call; a device's refusal changed nothing and is not.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from plantctl.audit import AuditAction, AuditNotDurableError, AuditTrail
from plantctl.config.models import LoopConfig, LoopMode, PlantConfig, TagConfig
from plantctl.points import is_system_name
from plantctl.writes import WriteOutcome, WriteStatus

log = logging.getLogger(__name__)

LOOP_OWNED_MODES = (LoopMode.AUTO, LoopMode.CAS)
MAY_HAVE_CHANGED = frozenset({WriteStatus.WRITTEN, WriteStatus.WRITTEN_NOT_CONFIRMED, WriteStatus.TIMEOUT,
                              WriteStatus.LINK_DOWN})  # audited; a device's refusal changed nothing
WRITE_ROLES = frozenset({"operator", "engineer", "admin"})  # api.auth.roles.Role labels that may write


class PolicyCode(StrEnum):
    """Why the gate refused a write before it left the service (the API's problem type)."""

    UNKNOWN_TAG = "unknown-tag"
    NOT_WRITABLE = "not-writable"
    NOT_FINITE = "not-finite"
    OUT_OF_RANGE = "out-of-range"
    HEARTBEAT = "heartbeat"
    LOOP_OWNED = "loop-owned"
    NOT_LOOP_OUTPUT = "not-loop-output"
    ROLE = "role"
    AUDIT_UNAVAILABLE = "audit-unavailable"


@dataclass(frozen=True, slots=True)
class OperatorOrigin:
    """A person through the API: who, with which role, from where, by which credential, and why."""

    user: str
    role: str
    address: str = ""
    via: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class LoopOrigin:
    """A control loop writing one of its outputs."""

    loop: str


@dataclass(frozen=True, slots=True)
class HeartbeatOrigin:
    """A source's supervisory heartbeat writing its counter."""

    source: str


Origin = OperatorOrigin | LoopOrigin | HeartbeatOrigin
Write = Callable[[str, float], Awaitable[WriteOutcome]]


class LoopView(Protocol):
    """What the gate needs of a loop to know whether it owns its outputs now."""

    @property
    def cfg(self) -> LoopConfig: ...

    @property
    def mode(self) -> LoopMode: ...


class SourceWriter(Protocol):
    """What the gate needs of a source: its single write path."""

    async def write(self, tag: str, value: float) -> WriteOutcome: ...


class WrittenNotAudited(Exception):
    """The write left the service but its audit record could not be made durable (the store failed after reserve)."""

    def __init__(self, outcome: WriteOutcome, cause: AuditNotDurableError) -> None:
        super().__init__(f"{outcome.status.value}, but not audited: {cause}")
        self.outcome = outcome


class WriteGate:
    """Decides, sends and audits every write to the plant; see the module docstring for the order."""

    def __init__(self, config: PlantConfig, sources: Mapping[str, SourceWriter],
                 loops: Callable[[], Mapping[str, LoopView] | None], audit: AuditTrail | None = None,
                 last_value: Callable[[str], float | None] = lambda _tag: None) -> None:
        self._tags = {t.name: t for t in config.tags}
        self._sources = sources
        self._loops = loops
        self.audit = audit
        self._last_value = last_value
        self._heartbeat_of = {hb: s.name for s in config.sources
                              if (hb := getattr(s, "heartbeat_tag", None)) is not None}
        self._loop_of = {mv: lp.name for lp in config.loops for mv in lp.mv}

    # --- policy ----------------------------------------------------------------------------------
    def check(self, tag_name: str, value: float, origin: Origin) -> WriteOutcome | None:
        """The policy refusal for this write, or None when it may leave the service."""
        if isinstance(origin, OperatorOrigin) and origin.role not in WRITE_ROLES:
            return WriteOutcome.policy(f"writing a plant tag needs the operator role (you are {origin.role})",
                                       PolicyCode.ROLE)
        tag = self._tags.get(tag_name)
        if tag is None:
            return WriteOutcome.policy(f"no tag {tag_name!r} in the plant file", PolicyCode.UNKNOWN_TAG)
        if is_system_name(tag.name):
            return WriteOutcome.policy(f"{tag.name} is a system point the service itself publishes; nothing writes it",
                                       PolicyCode.NOT_WRITABLE)
        if not tag.writable:
            return WriteOutcome.policy(f"{tag.name} is not writable in the plant file (a measurement or feedback)",
                                       PolicyCode.NOT_WRITABLE)
        refused = _value_refusal(tag, value)
        if refused is not None:
            return refused
        beat_source = self._heartbeat_of.get(tag.name)
        if beat_source is not None and origin != HeartbeatOrigin(beat_source):
            return WriteOutcome.policy(f"{tag.name} is the supervisory heartbeat of {beat_source}; the service "
                                       "writes it, nobody else may", PolicyCode.HEARTBEAT)
        if isinstance(origin, HeartbeatOrigin) and beat_source is None:
            return WriteOutcome.policy(f"{tag.name} is not the heartbeat of {origin.source}", PolicyCode.HEARTBEAT)
        if isinstance(origin, LoopOrigin) and self._loop_of.get(tag.name) != origin.loop:
            return WriteOutcome.policy(f"{tag.name} is not an output of loop {origin.loop}",
                                       PolicyCode.NOT_LOOP_OUTPUT)
        if isinstance(origin, OperatorOrigin):
            owner = self.owner(tag.name)
            if owner is not None:
                return WriteOutcome.policy(f"{tag.name} is an output of loop {owner}; switch the loop to MAN to "
                                           "write it here", PolicyCode.LOOP_OWNED)
        return None

    def owner(self, tag: str) -> str | None:
        """The loop that writes this tag now (AUTO/CAS), named with its mode; None when nobody owns it."""
        for name, loop in (self._loops() or {}).items():
            if tag in loop.cfg.mv and loop.mode in LOOP_OWNED_MODES:
                return f"{name} in {loop.mode.value}"
        return None

    # --- the write -------------------------------------------------------------------------------
    async def write(self, tag_name: str, value: float, origin: Origin) -> WriteOutcome:
        """Check, (reserve the audit record,) send, (record): never raises for a plant-side failure.

        Raises WrittenNotAudited only when the audit store fails between reserve() and record().
        """
        refused = self.check(tag_name, value, origin)
        if refused is not None:
            return refused
        tag = self._tags[tag_name]
        old = self._last_value(tag_name)
        if isinstance(origin, OperatorOrigin):
            if self.audit is None:
                return WriteOutcome.policy("this service has no audit trail: operator writes are refused",
                                           PolicyCode.AUDIT_UNAVAILABLE)
            try:
                await self.audit.reserve()
            except AuditNotDurableError as exc:
                return WriteOutcome.policy(f"not written: the audit record cannot be made durable ({exc})",
                                           PolicyCode.AUDIT_UNAVAILABLE)
        outcome, sent = await self._send(tag, value)
        if isinstance(origin, OperatorOrigin) and sent and outcome.status in MAY_HAVE_CHANGED:
            await self._record(tag, old, value, origin, outcome)
        return outcome

    async def _send(self, tag: TagConfig, value: float) -> tuple[WriteOutcome, bool]:
        """The outcome, and whether the source was called at all."""
        source = self._sources.get(tag.source)
        if source is None:
            return WriteOutcome.link_down(f"source {tag.source!r} of {tag.name} is not running in this service"), False
        try:
            return await source.write(tag.name, value), True
        except Exception as exc:  # a connector bug is not the plant refusing: say so, never raise to the writer
            log.exception("source %s raised writing %s", tag.source, tag.name)
            return WriteOutcome.link_down(f"source {tag.source} failed writing {tag.name}: "
                                          f"{type(exc).__name__}: {exc}"), True

    async def _record(self, tag: TagConfig, old: float | None, value: float, origin: OperatorOrigin,
                      outcome: WriteOutcome) -> None:
        try:
            await self.audit_trail.record(
                origin.user, AuditAction.TAG_WRITE, tag.name, old={"value": old, "unit": tag.unit},
                new={"value": value, "unit": tag.unit},
                source_address=origin.address,
                detail={"reason": origin.reason, "via": origin.via, "outcome": outcome.status.value,
                        "read_back": outcome.value_read_back, "device": outcome.reason})
        except AuditNotDurableError as exc:
            # reserve() promised durability; only a failure of the durable store itself gets here
            log.critical("AUDIT LOST: %s wrote %s = %g (%s) but the record could not be made durable",
                         origin.user, tag.name, value, outcome.status.value)
            raise WrittenNotAudited(outcome, exc) from exc

    @property
    def audit_trail(self) -> AuditTrail:
        assert self.audit is not None
        return self.audit

    # --- writers for the runtime's components ------------------------------------------------------
    def loop_writer(self) -> Write:
        """The write callable for the loop runner: each output written with its loop's origin."""
        async def write(tag: str, value: float) -> WriteOutcome:
            loop = self._loop_of.get(tag)
            if loop is None:
                return WriteOutcome.policy(f"{tag} is not the output of any loop", PolicyCode.NOT_LOOP_OUTPUT)
            return await self.write(tag, value, LoopOrigin(loop))
        return write

    def heartbeat_writer(self, source: str) -> Write:
        """The write callable injected into a source's heartbeat: writes its heartbeat tag only."""
        origin = HeartbeatOrigin(source)

        async def write(tag: str, value: float) -> WriteOutcome:
            return await self.write(tag, value, origin)
        return write


def _value_refusal(tag: TagConfig, value: float) -> WriteOutcome | None:
    if not math.isfinite(value):
        return WriteOutcome.policy(f"{value!r} for {tag.name} is not a finite number", PolicyCode.NOT_FINITE)
    low, high = tag.range.low, tag.range.high
    if not low <= value <= high:
        return WriteOutcome.policy(f"{value:g} {tag.unit} for {tag.name} is outside its range "
                                   f"[{low:g}, {high:g}] {tag.unit}", PolicyCode.OUT_OF_RANGE)
    if tag.unit == "bool" and value not in (0.0, 1.0):
        return WriteOutcome.policy(f"{tag.name} is a bit: write 0 or 1, not {value:g}", PolicyCode.OUT_OF_RANGE)
    return None
