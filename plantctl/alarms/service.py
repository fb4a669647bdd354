"""The alarm part of the running service: engine + journal + restore at start + timers, and audited operator actions.

Lifecycle as every component: `start()` restores the saved alarm states from the database and
returns; the journal writer and the timer task run in the background; `stop()` cancels and awaits
them and flushes the journal. `submit(batch)` is a bus tap: it evaluates in memory and returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import psycopg

from plantctl.alarms.conditions import SetpointProvider
from plantctl.alarms.engine import AckResult, AlarmEngine, TransitionSink
from plantctl.alarms.journal import AlarmJournal, load_snapshots
from plantctl.alarms.states import AlarmRefused, Transition
from plantctl.audit import AuditAction, AuditRecord, AuditTrail
from plantctl.config.models import PlantConfig
from plantctl.db.pool import ServicePool
from plantctl.samples import Sample, utcnow

log = logging.getLogger(__name__)


class AlarmService:
    """One plant's alarms, persisted; operator actions go through here so each is journaled and audited."""

    def __init__(self, plant: PlantConfig, database_url: str, setpoint: SetpointProvider | None = None, *,
                 audit: AuditTrail | None = None, tick_period_s: float = 0.5,
                 clock: Callable[[], datetime] = utcnow, journal: AlarmJournal | None = None,
                 pool: ServicePool | None = None) -> None:
        self.journal = journal or AlarmJournal(database_url)
        self._db: str | ServicePool = database_url if pool is None else pool  # restore reads the service pool
        self.engine = AlarmEngine.for_plant(plant, setpoint, sink=self._emit)
        self._listeners: list[TransitionSink] = []
        self.audit = audit
        self._url = database_url
        self._clock = clock
        self._tick_period_s = tick_period_s
        self._task: asyncio.Task[None] | None = None
        self.unknown_restored: list[str] = []
        self.restore_error: str | None = None

    async def start(self) -> None:
        """Restore saved states (active, acknowledged, shelved, out of service), then run the journal and timers."""
        try:
            snapshots = await load_snapshots(self._db)
        except (psycopg.Error, OSError) as exc:
            # Alarms must run without the database; the journal retries until it is back.
            self.restore_error = str(exc)
            log.error("alarm states not restored (database unreachable: %s); starting with every alarm normal", exc)
            snapshots = {}
        self.unknown_restored = self.engine.restore(snapshots)
        if self.unknown_restored:
            log.warning("saved state of alarms no longer configured ignored: %s", ", ".join(self.unknown_restored))
        await self.journal.start()
        self.engine.tick(self._clock())  # shelves that expired while the service was down
        self._task = asyncio.create_task(self._timers(), name="alarm-timers")

    async def stop(self, flush_timeout_s: float = 10.0) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.journal.stop(flush_timeout_s)

    def add_listener(self, listener: TransitionSink) -> None:
        """Also hand every transition to `listener` (after the journal); it must not block: notifications, exports."""
        self._listeners.append(listener)

    def _emit(self, transitions: list[Transition]) -> None:
        self.journal.submit(transitions)
        for listener in self._listeners:
            try:
                listener(transitions)
            except Exception:  # a listener's bug must not stop the journal or the engine
                log.exception("alarm transition listener %r failed", listener)

    def submit(self, batch: list[Sample]) -> None:
        """Bus tap: evaluate a batch now (pure, in memory); transitions go to the journal's queue."""
        self.engine.process(batch, self._clock())

    async def _timers(self) -> None:
        while True:
            await asyncio.sleep(self._tick_period_s)
            try:
                self.engine.tick(self._clock())
            except Exception:  # a bug in one timer must not stop alarm timing for the service's life
                log.exception("alarm timer tick failed")

    # -- operator actions: reserve the audit record, act (journaled by the engine's sink), record -------
    # Safe in this order: reserve() refuses (AuditNotDurableError) while a record could not be made durable, and the
    # engine refuses (AlarmRefused) before changing anything, so an action is applied and audited, or neither.
    async def _reserve(self) -> None:
        if self.audit is not None:
            await self.audit.reserve()

    async def _audited(self, t: Transition, action: AuditAction, source_address: str, via: str,
                       detail: dict[str, Any], new: dict[str, Any] | None = None) -> None:
        if self.audit is not None:
            await self.audit.add(AuditRecord(t.user, action, t.alarm, {"state": t.old_state.value},
                                             {"state": t.new_state.value, **(new or {})}, source_address,
                                             {**detail, "via": via}))

    async def acknowledge(self, names: Iterable[str], user: str, comment: str = "", source_address: str = "",
                          via: str = "") -> AckResult:
        await self._reserve()
        result = self.engine.acknowledge(names, user, comment, self._clock())
        for t in result.done:
            await self._audited(t, AuditAction.ACK, source_address, via, {"comment": comment})
        return result

    async def shelve(self, name: str, user: str, reason: str, duration_s: float | None = None,
                     source_address: str = "", via: str = "") -> Transition:
        await self._reserve()
        t = self.engine.shelve(name, user, reason, self._clock(), duration_s)
        until = t.snapshot.shelved_until
        await self._audited(t, AuditAction.SHELVE, source_address, via, {"reason": reason},
                            {"duration_s": duration_s, "kind": t.snapshot.shelve.value if t.snapshot.shelve else None,
                             "until": until.isoformat() if until else None})
        return t

    async def unshelve(self, name: str, user: str, comment: str = "", source_address: str = "",
                       via: str = "") -> Transition:
        await self._reserve()
        t = self.engine.unshelve(name, user, comment, self._clock())
        await self._audited(t, AuditAction.UNSHELVE, source_address, via, {"comment": comment})
        return t

    async def remove_from_service(self, name: str, user: str, reason: str, source_address: str = "",
                                  via: str = "") -> Transition:
        """Out of service (engineer's decision, checked by the caller): a reason is required."""
        if not reason.strip():
            raise AlarmRefused(name, "remove from service", "a reason is required to take an alarm out of service",
                               "Bad_InvalidArgument")
        await self._reserve()
        t = self.engine.remove_from_service(name, user, reason, self._clock())
        await self._audited(t, AuditAction.OUT_OF_SERVICE, source_address, via, {"reason": reason})
        return t

    async def return_to_service(self, name: str, user: str, reason: str, source_address: str = "",
                                via: str = "") -> Transition:
        """Back in service (engineer's decision, checked by the caller): a reason is required."""
        if not reason.strip():
            raise AlarmRefused(name, "return to service", "a reason is required to return an alarm to service",
                               "Bad_InvalidArgument")
        await self._reserve()
        t = self.engine.return_to_service(name, user, reason, self._clock())
        await self._audited(t, AuditAction.IN_SERVICE, source_address, via, {"reason": reason})
        return t

    async def reset(self, name: str, user: str, comment: str = "", source_address: str = "",
                    via: str = "") -> Transition:
        """Reset a latched alarm whose condition has cleared (the engine refuses otherwise)."""
        await self._reserve()
        t = self.engine.reset(name, user, comment, self._clock())
        await self._audited(t, AuditAction.ALARM_RESET, source_address, via, {"comment": comment})
        return t

    def stats(self) -> dict[str, Any]:
        e, j = self.engine.stats, self.journal.stats
        return {"samples": e.samples, "evaluations": e.evaluations, "transitions": e.transitions,
                "stale_samples": e.stale_samples, "journal_written": j.written, "journal_queued": self.journal.queued,
                "journal_dropped": j.dropped, "journal_failures": j.failures}
