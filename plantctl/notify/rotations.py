"""On-call rotations edited in the panel: kept in the database, each replacing the plant file's of its name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

import psycopg

from plantctl.config.notifications import RotationConfig


@dataclass(frozen=True, slots=True)
class PanelRotation:
    id: int
    rotation: str
    people: list[str]
    start: date
    handover_time: time
    period_days: int
    created_by: str
    created_at: datetime

    def config(self) -> RotationConfig:
        return RotationConfig(name=self.rotation, people=self.people, start=self.start,
                              handover_time=self.handover_time, period_days=self.period_days)


_COLUMNS = "id, rotation, people, start_date, handover_time, period_days, created_by, created_at"


async def in_force(conn: psycopg.AsyncConnection[Any]) -> list[PanelRotation]:
    """The panel's rotations not cleared, by name."""
    cur = await conn.execute(f"SELECT {_COLUMNS} FROM notify_rotation WHERE removed_at IS NULL ORDER BY rotation")
    return [PanelRotation(*r) for r in await cur.fetchall()]


async def replace(conn: psycopg.AsyncConnection[Any], r: RotationConfig, user: str, now: datetime,
                  ) -> tuple[PanelRotation | None, PanelRotation]:
    """Put `r` in force for its name (one transaction); returns the panel rotation it replaced, if any, and it."""
    async with conn.transaction():
        old = await clear(conn, r.name, user, now)
        cur = await conn.execute(
            f"INSERT INTO notify_rotation (rotation, people, start_date, handover_time, period_days, created_by, "
            f"created_at) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
            (r.name, list(r.people), r.start, r.handover_time, r.period_days, user, now))
        row = await cur.fetchone()
    assert row is not None
    return old, PanelRotation(*row)


async def clear(conn: psycopg.AsyncConnection[Any], rotation: str, user: str, now: datetime) -> PanelRotation | None:
    """Take the panel's rotation of this name out of force (the plant file's holds again); None if there was none."""
    cur = await conn.execute(
        f"UPDATE notify_rotation SET removed_by = %s, removed_at = %s WHERE rotation = %s AND removed_at IS NULL "
        f"RETURNING {_COLUMNS}", (user, now, rotation))
    row = await cur.fetchone()
    return None if row is None else PanelRotation(*row)
