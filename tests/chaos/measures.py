"""The reliability measures of docs/reliability.md, computed from what the historian stored."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from tests.chaos.stack import GOOD, MODBUS_PROBE_TAGS, SCAN_PERIOD_S, Stack

Window = tuple[float, float]  # wall-clock seconds (time.time), start ≤ end


def _overlap(a: float, b: float, windows: Sequence[Window]) -> float:
    return sum(max(0.0, min(b, w1) - max(a, w0)) for w0, w1 in windows)


def missing_scans(stamps: Sequence[float], start: float, end: float, period_s: float,
                  excused: Sequence[Window] = ()) -> int:
    """Scans with no stored sample between start and end: a stretch of n periods (rounded) between two
    stored samples (or a window edge) holds n − 1 missing scans; time inside `excused` windows is taken
    out of each stretch first."""
    inside = sorted(t for t in stamps if start <= t <= end)
    points = [start, *inside, end]
    lost = 0
    for a, b in itertools.pairwise(points):
        span = (b - a) - _overlap(a, b, excused)
        lost += max(0, round(span / period_s) - 1)
    return lost


@dataclass(frozen=True)
class Figures:
    """One fault's figures over a measured window."""

    samples_lost: int
    max_gap_s: float
    duplicates: int
    out_of_order: int
    quarantined: int

    def as_dict(self) -> dict[str, float | int]:
        return {"samples_lost": self.samples_lost, "max_gap_s": round(self.max_gap_s, 3),
                "duplicates": self.duplicates, "out_of_order": self.out_of_order, "quarantined": self.quarantined}


def probe_stamps(stack: Stack, start: float, end: float) -> dict[str, list[float]]:
    rows = stack.sql("SELECT t.name, extract(epoch FROM s.ts)::float8 FROM samples s JOIN tags t ON t.id = s.tag_id "
                     "WHERE t.name = ANY(%s) AND s.ts >= %s AND s.ts <= %s ORDER BY s.ts",
                     list(MODBUS_PROBE_TAGS), _utc(start), _utc(end))
    out: dict[str, list[float]] = {t: [] for t in MODBUS_PROBE_TAGS}
    for name, ts in rows:
        out[name].append(float(ts))
    return out


def figures(stack: Stack, start: float, end: float, excused: Sequence[Window] = ()) -> Figures:
    """Lost scans and the longest gap (probe tags, outside `excused`), stored duplicates, rows committed
    out of time order (probe tags), and quarantined batches, for samples stamped in [start, end]."""
    lost = 0
    max_gap = 0.0
    for stamps in probe_stamps(stack, start, end).values():
        lost += missing_scans(stamps, start, end, SCAN_PERIOD_S, excused)
        pts = [start, *stamps, end]
        for a, b in itertools.pairwise(pts):
            max_gap = max(max_gap, (b - a) - _overlap(a, b, excused))
    dup = stack.sql("SELECT count(*) FROM (SELECT tag_id, ts FROM samples GROUP BY 1, 2 HAVING count(*) > 1) d")
    ooo = stack.sql(
        "SELECT count(*) FROM (SELECT s.ts, max(s.ts) OVER (PARTITION BY s.tag_id ORDER BY s.commit_order "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before FROM samples s JOIN tags t "
        "ON t.id = s.tag_id WHERE t.name = ANY(%s)) o WHERE o.ts <= o.before", list(MODBUS_PROBE_TAGS))
    return Figures(samples_lost=lost, max_gap_s=max_gap, duplicates=int(dup[0][0]), out_of_order=int(ooo[0][0]),
                   quarantined=stack.quarantine_lines())


def good_committed_between(stack: Stack, source_tags: Sequence[str], mark_from: int, mark_to: int) -> int:
    """Good rows of these tags committed with mark_from < commit_order ≤ mark_to."""
    rows = stack.sql("SELECT count(*) FROM samples s JOIN tags t ON t.id = s.tag_id WHERE t.name = ANY(%s) "
                     "AND s.commit_order > %s AND s.commit_order <= %s AND s.quality >= %s",
                     list(source_tags), mark_from, mark_to, GOOD)
    return int(rows[0][0])


def good_stamped_between(stack: Stack, source_tags: Sequence[str], start: float, end: float) -> int:
    rows = stack.sql("SELECT count(*) FROM samples s JOIN tags t ON t.id = s.tag_id WHERE t.name = ANY(%s) "
                     "AND s.ts > %s AND s.ts < %s AND s.quality >= %s", list(source_tags), _utc(start), _utc(end),
                     GOOD)
    return int(rows[0][0])


def tags_with_quality_after(stack: Stack, source_tags: Sequence[str], mark: int, quality: int) -> set[str]:
    rows = stack.sql("SELECT DISTINCT t.name FROM samples s JOIN tags t ON t.id = s.tag_id WHERE t.name = ANY(%s) "
                     "AND s.commit_order > %s AND s.quality = %s", list(source_tags), mark, quality)
    return {r[0] for r in rows}


def good_committed_after(stack: Stack, tag: str, mark: int) -> bool:
    """A Good row of this tag was committed after the commit mark (tags stamped by the PLC's clock)."""
    rows = stack.sql("SELECT 1 FROM samples s JOIN tags t ON t.id = s.tag_id WHERE t.name = %s "
                     "AND s.commit_order > %s AND s.quality >= %s LIMIT 1", tag, mark, GOOD)
    return bool(rows)


def first_good_stamp_after(stack: Stack, tag: str, t: float) -> float | None:
    """The earliest Good sample of this tag stamped after t (tags stamped by the service's clock)."""
    rows = stack.sql("SELECT extract(epoch FROM min(s.ts))::float8 FROM samples s JOIN tags t ON t.id = s.tag_id "
                     "WHERE t.name = %s AND s.ts > %s AND s.quality >= %s", tag, _utc(t), GOOD)
    return None if rows[0][0] is None else float(rows[0][0])


def _utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)
