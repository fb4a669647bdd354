"""Write and read logbook notes; a note is audited first, so no note exists that the audit trail lacks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from plantctl.audit.audit import AuditAction, AuditTrail

MAX_NOTE_CHARS = 4000
MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class Note:
    """One note; `ts` is the database server's clock at insert."""

    id: int
    ts: datetime
    author: str
    body: str


class Logbook:
    """The logbook in the plant database, audited through the one AuditTrail."""

    def __init__(self, pool: AsyncConnectionPool[Any], audit: AuditTrail) -> None:
        self._pool = pool
        self._audit = audit

    async def add(self, author: str, body: str, source_address: str = "") -> Note:
        """Audit the note (durably, or raise AuditNotDurableError and write nothing), then store it."""
        text = body.strip()
        if not text:
            raise ValueError("a logbook note needs some text")
        if len(text) > MAX_NOTE_CHARS:
            raise ValueError(f"a logbook note is at most {MAX_NOTE_CHARS} characters (got {len(text)})")
        receipt = await self._audit.record(author, AuditAction.LOGBOOK_NOTE, "logbook", None, {"text": text},
                                           source_address)
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO logbook_note (author, body, audit_id) VALUES (%s, %s, %s) RETURNING id, ts, author, body",
                (author, text, receipt.record_id))
            row = await cur.fetchone()
        assert row is not None
        return Note(int(row[0]), row[1], str(row[2]), str(row[3]))

    async def notes(self, *, since: datetime | None = None, until: datetime | None = None, text: str | None = None,
                    limit: int = 100) -> list[Note]:
        """Notes in [since, until) whose text or author contains `text` (any case), newest first."""
        if not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"logbook page size must be 1..{MAX_PAGE} (got {limit})")
        for name, t in (("since", since), ("until", until)):
            if t is not None and t.tzinfo is None:
                raise ValueError(f"logbook {name} must be timezone-aware (UTC)")
        where, params = ["TRUE"], []  # type: list[str], list[Any]
        if since is not None:
            where.append("ts >= %s")
            params.append(since)
        if until is not None:
            where.append("ts < %s")
            params.append(until)
        if text:
            pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append("(body ILIKE %s OR author ILIKE %s)")
            params += [pattern, pattern]
        params.append(limit)
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT id, ts, author, body FROM logbook_note WHERE {' AND '.join(where)} "
                "ORDER BY ts DESC, id DESC LIMIT %s", params)
            rows = await cur.fetchall()
        return [Note(int(r[0]), r[1], str(r[2]), str(r[3])) for r in rows]
