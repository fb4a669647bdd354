"""Read one tag's raw samples from the historian as a step series (Good per OPC quality)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import psycopg

from plantctl.reports.steps import Series

_GOOD = 192  # OPC DA quality bits 7-6 = 11: Good


def fetch_series(conn: psycopg.Connection[Any], tag: str, start: datetime, end: datetime) -> Series:
    """One tag's stored samples with start <= ts < end, oldest first."""
    cur = conn.execute("SELECT id FROM tags WHERE name = %s", (tag,))
    row = cur.fetchone()
    if row is None:
        return Series.empty()
    cur = conn.execute(
        "SELECT extract(epoch FROM ts)::float8, value, quality FROM samples "
        "WHERE tag_id = %s AND ts >= %s AND ts < %s ORDER BY ts", (row[0], start, end))
    rows = cur.fetchall()
    if not rows:
        return Series.empty()
    arr = np.array(rows, dtype=np.float64)
    quality = arr[:, 2].astype(np.int64)
    return Series(arr[:, 0].copy(), arr[:, 1].copy(), (quality & _GOOD) == _GOOD)
