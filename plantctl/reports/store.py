"""Filed reports: stored once with their SHA-256; a regeneration with other bytes becomes a new revision."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg


@dataclass(frozen=True, slots=True)
class FiledReport:
    kind: str
    period: str
    format: str
    revision: int
    sha256: str
    size: int
    generated_at: datetime
    generated_by: str
    new: bool  # False when the same bytes were already filed


def file_report(conn: psycopg.Connection[Any], kind: str, period: str, fmt: str, content: bytes,
                generated_by: str) -> FiledReport:
    """Store the bytes unless these exact bytes are filed already; never change a filed report."""
    digest = hashlib.sha256(content).hexdigest()
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"report:{kind}:{period}:{fmt}",))
        cur = conn.execute(
            "SELECT revision, generated_at, generated_by FROM discharge_reports "
            "WHERE kind = %s AND period = %s AND format = %s AND sha256 = %s", (kind, period, fmt, digest))
        row = cur.fetchone()
        if row is not None:
            return FiledReport(kind, period, fmt, int(row[0]), digest, len(content), row[1].astimezone(UTC),
                               str(row[2]), new=False)
        cur = conn.execute(
            "INSERT INTO discharge_reports (kind, period, format, revision, sha256, content, generated_by) "
            "SELECT %s, %s, %s, coalesce(max(revision), 0) + 1, %s, %s, %s FROM discharge_reports "
            "WHERE kind = %s AND period = %s AND format = %s RETURNING revision, generated_at",
            (kind, period, fmt, digest, content, generated_by, kind, period, fmt))
        ins = cur.fetchone()
        assert ins is not None
    return FiledReport(kind, period, fmt, int(ins[0]), digest, len(content), ins[1].astimezone(UTC), generated_by,
                       new=True)


def list_reports(conn: psycopg.Connection[Any], limit: int = 200) -> list[FiledReport]:
    """Filed reports, newest period first, every revision."""
    cur = conn.execute(
        "SELECT kind, period, format, revision, sha256, length(content), generated_at, generated_by "
        "FROM discharge_reports ORDER BY period DESC, kind, format, revision DESC LIMIT %s", (limit,))
    return [FiledReport(str(k), str(p), str(f), int(r), str(h), int(n), g.astimezone(UTC), str(b), new=False)
            for k, p, f, r, h, n, g, b in cur.fetchall()]


def read_report(conn: psycopg.Connection[Any], kind: str, period: str, fmt: str,
                revision: int | None = None) -> tuple[FiledReport, bytes] | None:
    """A filed report's bytes (the latest revision unless one is named)."""
    cur = conn.execute(
        "SELECT revision, sha256, content, generated_at, generated_by FROM discharge_reports "
        "WHERE kind = %s AND period = %s AND format = %s AND (%s::int IS NULL OR revision = %s) "
        "ORDER BY revision DESC LIMIT 1", (kind, period, fmt, revision, revision))
    row = cur.fetchone()
    if row is None:
        return None
    rev, digest, content, at, by = row
    data = bytes(content)
    return FiledReport(kind, period, fmt, int(rev), str(digest), len(data), at.astimezone(UTC), str(by),
                       new=False), data
