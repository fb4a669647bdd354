"""Record and query operator and engineer actions; the table refuses UPDATE, DELETE and TRUNCATE (0101_audit.sql).

`record` returns once the record is durable — committed, or fsync'd to the durable queue while the
database is away (plantctl/audit/durable.py) — and raises AuditNotDurableError otherwise. AuditTrail is the
service's only audit writer; every change to the plant relies on its contract: `await reserve()` before the
change raises AuditNotDurableError when a record made now could not be made durable, so a change is checked,
reserved, applied, recorded (`apply_audited`): applied AND audited, or not applied.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from plantctl.audit.durable import AuditNotDurableError, AuditWriter, AuditWriterStats, PendingRecord

__all__ = ["AuditAction", "AuditEntry", "AuditNotDurableError", "AuditPage", "AuditReceipt", "AuditRecord",
           "AuditTrail"]

T = TypeVar("T")
RESERVE_BYTES = 16 * 1024  # room a reserved record may take in the durable queue (records are ~0.5 kB)


class AuditAction(StrEnum):
    """The one vocabulary of recorded actions: what changes the plant, its alarms, or who may change them."""

    SETPOINT = "setpoint"
    MODE = "mode"
    MANUAL_OUTPUT = "manual_output"
    ACK = "ack"
    SHELVE = "shelve"
    UNSHELVE = "unshelve"
    OUT_OF_SERVICE = "out_of_service"
    IN_SERVICE = "in_service"
    ALARM_RESET = "alarm_reset"  # a latching alarm reset by an operator
    CONFIG_RELOAD = "config_reload"
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    USER_CREATE = "user_create"
    USER_UPDATE = "user_update"
    TOKEN_CREATE = "token_create"
    TOKEN_REVOKE = "token_revoke"
    THROTTLE_CLEAR = "throttle_clear"  # an admin lifts login throttling for a user or address
    SIMULATOR = "simulator"  # fault injection on the simulated PLC
    TAG_WRITE = "tag_write"  # an operator's write to one plant tag (pump run/stop/reset)
    ONCALL_OVERRIDE = "oncall_override"  # an engineer's change to who is on call (plantctl.notify)
    ONCALL_ROTATION = "oncall_rotation"  # an engineer's edit of an on-call rotation, or back to the plant file's
    LOGBOOK_NOTE = "logbook_note"  # an operator's shift logbook note (plantctl.logbook)
    LAB_TITRATION = "lab_titration"  # an engineer's lab titration refining a pH loop's curve
    ELECTRODE_VOTE = "electrode_vote"  # an electrode taken out of / returned to a loop's vote (calibration)
    COLUMN_REGENERATED = "column_regenerated"  # a sorbent column's bed regenerated: its loading starts again at 0


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One action to record, in the one shape every writer uses.

    old/new: the changed thing as a small dict ({"value": 7.2, "unit": "pH"}, {"mode": "AUTO"}, {"state": "ACKED"});
    detail: the why and how ({"reason"/"comment": ..., "via": "cookie" | "bearer" | "token"}).
    """

    actor: str
    action: AuditAction
    target: str
    old: Any = None
    new: Any = None
    source_address: str = ""
    detail: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One recorded action; `ts` is the database server's clock at insert."""

    id: int
    ts: datetime
    actor: str
    action: str
    target: str
    old: Any
    new: Any
    source_address: str
    detail: dict[str, Any]
    occurred: datetime | None = None  # the service's clock at the action (later ts: replayed after an outage)


@dataclass(frozen=True, slots=True)
class AuditReceipt:
    """A durable audit record: `entry` as stored when committed now, None while it waits in the durable queue."""

    record_id: uuid.UUID
    occurred: datetime
    entry: AuditEntry | None

    @property
    def queued(self) -> bool:
        return self.entry is None


@dataclass(frozen=True, slots=True)
class AuditPage:
    """Newest first; pass `next_cursor` back to get the following (older) page, None at the end."""

    entries: list[AuditEntry]
    next_cursor: str | None


_COLUMNS = "id, ts, actor, action, target, old_value, new_value, source_address, detail, occurred"
MAX_PAGE = 1000


def _json(value: Any, what: str) -> Jsonb | None:
    if value is None:
        return None
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"audit {what} value must be JSON-serialisable ({exc})") from None
    return Jsonb(value)


def _entry(row: tuple[Any, ...]) -> AuditEntry:
    id_, ts, actor, action, target, old, new, src, detail, occurred = row
    return AuditEntry(int(id_), ts, str(actor), str(action), str(target), old, new, str(src), dict(detail or {}),
                      occurred)


def _encode_cursor(e: AuditEntry) -> str:
    return base64.urlsafe_b64encode(f"{e.ts.isoformat()}|{e.id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        ts, id_ = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        when = datetime.fromisoformat(ts)
        if when.tzinfo is None:
            raise ValueError
        return when, int(id_)
    except (ValueError, UnicodeDecodeError):
        raise ValueError(f"bad audit page cursor {cursor!r}: pass back next_cursor unchanged") from None


class AuditTrail:
    """The audit trail in the database at database_url (or through a shared connection pool).

    With a queue_dir, records survive a database outage in a durable queue there (REFUSE_NEW when
    full, sized by queue_max_bytes); without one, a record the database cannot take now is refused.
    """

    def __init__(self, database_url: str | None = None, *, pool: AsyncConnectionPool[Any] | None = None,
                 connect_timeout_s: float = 5.0, queue_dir: Path | None = None,
                 queue_max_bytes: int = 64 * 1024**2, write_timeout_s: float = 3.0) -> None:
        if (database_url is None) == (pool is None):
            raise ValueError("give the audit trail a database_url or a pool, not both")
        self._url = database_url
        self._pool = pool
        self._timeout = max(1, int(min(connect_timeout_s, write_timeout_s)))
        self.writer = AuditWriter(self._conn, queue_dir=queue_dir, queue_max_bytes=queue_max_bytes,
                                  write_timeout_s=write_timeout_s)

    async def start(self) -> None:
        """Replay what an earlier run left in the durable queue (in the background)."""
        await self.writer.start()

    async def stop(self) -> None:
        await self.writer.stop()

    def stats(self) -> AuditWriterStats:
        return self.writer.stats()

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        if self._pool is not None:
            async with self._pool.connection(timeout=self._timeout) as conn:
                yield conn
        else:
            assert self._url is not None
            async with await psycopg.AsyncConnection.connect(self._url, connect_timeout=self._timeout) as conn:
                yield conn

    async def record(self, actor: str, action: AuditAction | str, target: str = "", old: Any = None,
                     new: Any = None, source_address: str = "", detail: dict[str, Any] | None = None) -> AuditReceipt:
        """Append one action (e.g. a setpoint change: old/new as {"value": 7.0, "unit": "pH"}) durably.

        Raises AuditNotDurableError when it can be neither committed nor queued: do not apply the action then.
        """
        if not actor.strip():
            raise ValueError("an audit entry needs an actor (the user, or 'system' for the service itself)")
        try:
            act = AuditAction(action)
        except ValueError:
            known = ", ".join(a.value for a in AuditAction)
            raise ValueError(f"unknown audit action {action!r}; known: {known}") from None
        for what, value in (("old", old), ("new", new), ("detail", detail or {})):
            _json(value, what)
        pending = PendingRecord(uuid.uuid4(), datetime.now(UTC), actor, act.value, target, old, new,
                                source_address, dict(detail or {}))
        row = await self.writer.write(pending, _COLUMNS)
        return AuditReceipt(pending.record_id, pending.occurred, None if row is None else _entry(row))

    async def add(self, rec: AuditRecord) -> AuditReceipt:
        """record() for an AuditRecord."""
        return await self.record(rec.actor, rec.action, rec.target, rec.old, rec.new, rec.source_address,
                                 rec.detail)

    async def reserve(self) -> None:
        """Before a change: raise AuditNotDurableError if its record could not be made durable now.

        With a durable queue that is the queue having room (the record commits, or queues); without one it is
        the database answering.
        """
        queue = self.writer.queue
        if queue is not None:
            if queue.pending_bytes + RESERVE_BYTES > queue.max_bytes:
                raise AuditNotDurableError(f"the audit queue is full ({queue.pending_bytes} of {queue.max_bytes} B)")
            return
        try:
            async with self._conn() as conn:
                await conn.execute("SELECT 1")
        except (psycopg.OperationalError, PoolTimeout, OSError) as exc:
            raise AuditNotDurableError(f"the audit trail cannot store records now: {exc}") from exc

    async def apply_audited(self, apply: Callable[[], T], rec: Callable[[T], AuditRecord]) -> T:
        """Reserve, apply, record: the change is applied and audited, or (AuditNotDurableError) not applied.

        Safe in this order because reserve() refuses while a record could not be made durable, and apply()
        raises before changing anything when it refuses (the caller's validation); the record is built from
        what apply() returned, so it says what was done, not what was asked.
        """
        await self.reserve()
        result = apply()
        await self.add(rec(result))
        return result

    async def query(self, *, start: datetime | None = None, end: datetime | None = None, actor: str | None = None,
                    action: AuditAction | str | None = None, target: str | None = None, limit: int = 100,
                    cursor: str | None = None) -> AuditPage:
        """Entries in [start, end) matching every given filter, newest first, `limit` per page."""
        for name, t in (("start", start), ("end", end)):
            if t is not None and t.tzinfo is None:
                raise ValueError(f"audit query {name} must be timezone-aware (UTC)")
        if not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"audit page size must be 1..{MAX_PAGE} (got {limit})")
        where: list[str] = []
        params: list[Any] = []
        for clause, value in (("ts >= %s", start), ("ts < %s", end), ("actor = %s", actor),
                              ("action = %s", None if action is None else str(action)), ("target = %s", target)):
            if value is not None:
                where.append(clause)
                params.append(value)
        if cursor is not None:
            where.append("(ts, id) < (%s, %s)")
            params.extend(_decode_cursor(cursor))
        sql = (f"SELECT {_COLUMNS} FROM audit_log {'WHERE ' + ' AND '.join(where) if where else ''} "
               "ORDER BY ts DESC, id DESC LIMIT %s")
        params.append(limit + 1)
        async with self._conn() as conn:
            cur = await conn.execute(sql.encode(), params)
            rows = await cur.fetchall()
        entries = [_entry(r) for r in rows[:limit]]
        more = len(rows) > limit
        return AuditPage(entries, _encode_cursor(entries[-1]) if more and entries else None)
