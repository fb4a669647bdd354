"""Tag names ↔ ids: tags are registered from the plant file at start so samples carry small ids."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from plantctl.config.models import TagConfig

_UPSERT = """
INSERT INTO tags (name, unit, description, range_low, range_high)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (name) DO UPDATE
   SET unit = EXCLUDED.unit, description = EXCLUDED.description,
       range_low = EXCLUDED.range_low, range_high = EXCLUDED.range_high
"""


async def register_tags(conn: psycopg.AsyncConnection[Any], tags: Sequence[TagConfig]) -> None:
    """Insert or update the plant's tags (unit, description, engineering range)."""
    if not tags:
        return
    async with conn.cursor() as cur:
        await cur.executemany(_UPSERT, [(t.name, t.unit, t.description, t.range.low, t.range.high)
                                        for t in tags])


async def load_tag_ids(conn: psycopg.AsyncConnection[Any]) -> dict[str, int]:
    async with conn.cursor() as cur:
        await cur.execute("SELECT name, id FROM tags")
        return {str(name): int(tag_id) for name, tag_id in await cur.fetchall()}
