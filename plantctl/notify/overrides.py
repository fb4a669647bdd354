"""On-call overrides made in the panel: kept in the database, merged into the roster over the plant file's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from plantctl.config.notifications import OverrideConfig


@dataclass(frozen=True, slots=True)
class PanelOverride:
    id: int
    rotation: str
    person: str
    start: datetime
    end: datetime
    reason: str
    created_by: str

    def config(self) -> OverrideConfig:
        return OverrideConfig(rotation=self.rotation, person=self.person, start=self.start, end=self.end,
                              reason=self.reason)


_COLUMNS = "id, rotation, person, start_at, end_at, reason, created_by"


async def active(conn: psycopg.AsyncConnection[Any], since: datetime) -> list[PanelOverride]:
    """Overrides not removed and not over before `since`, newest first (the newest wins where they overlap)."""
    cur = await conn.execute(f"SELECT {_COLUMNS} FROM notify_override WHERE removed_at IS NULL AND end_at > %s "
                             "ORDER BY created_at DESC, id DESC", (since,))
    return [PanelOverride(*r) for r in await cur.fetchall()]


async def add(conn: psycopg.AsyncConnection[Any], o: OverrideConfig, user: str) -> PanelOverride:
    cur = await conn.execute(
        f"INSERT INTO notify_override (rotation, person, start_at, end_at, reason, created_by) "
        f"VALUES (%s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}", (o.rotation, o.person, o.start, o.end, o.reason, user))
    row = await cur.fetchone()
    assert row is not None
    return PanelOverride(*row)


async def remove(conn: psycopg.AsyncConnection[Any], override_id: int, user: str, now: datetime,
                 ) -> PanelOverride | None:
    cur = await conn.execute(
        f"UPDATE notify_override SET removed_by = %s, removed_at = %s WHERE id = %s AND removed_at IS NULL "
        f"RETURNING {_COLUMNS}", (user, now, override_id))
    row = await cur.fetchone()
    return None if row is None else PanelOverride(*row)
