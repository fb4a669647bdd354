"""Batches the database refuses for their content: kept on disk, counted, never retried automatically."""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from plantctl.quality import Quality, quality_from_code
from plantctl.samples import Sample, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class QuarantinedBatch:
    """Samples set aside, when, and why (the database's message or the writer's rule)."""

    at: datetime
    reason: str
    samples: tuple[Sample, ...]


def _value_to_json(v: object) -> float | str:
    """Finite numbers as numbers; "nan", "inf", "-inf" and anything else (a bad input) as text."""
    if isinstance(v, int | float) and math.isfinite(v):
        return float(v)
    return repr(v)


def _value_from_json(v: float | str) -> float:
    try:
        return float(v)
    except ValueError:
        return math.nan  # a non-number was quarantined: keep its place, not its text


def _quality_to_json(q: object) -> int:
    return int(q) if isinstance(q, int) else -1


def _quality_from_json(q: int) -> Quality:
    return quality_from_code(q) if 0 <= q <= 255 else Quality.BAD  # it was not a quality byte


class Quarantine:
    """Append-only JSON-lines file (one batch a line, fsync'd) under <state>/quarantine/."""

    def __init__(self, directory: Path, max_bytes: int = 256 * 1024**2) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "quarantine.jsonl"
        self.max_bytes = max_bytes
        self.batches = 0
        self.rows = 0
        self.dropped_rows = 0  # refused samples not kept because the quarantine file is full
        if self.path.exists():
            for entry in self.entries():
                self.batches += 1
                self.rows += len(entry.samples)

    def put(self, samples: Sequence[Sample], reason: str) -> None:
        """Keep the samples with their reason; durable before returning."""
        record = {
            "at": utcnow().isoformat(),
            "reason": reason,
            "samples": [[s.tag, s.ts.isoformat(), _value_to_json(s.value), _quality_to_json(s.quality)]
                        for s in samples],
        }
        line = json.dumps(record, allow_nan=False) + "\n"
        size = self.path.stat().st_size if self.path.exists() else 0
        if size + len(line) > self.max_bytes:
            self.dropped_rows += len(samples)
            log.error("quarantine full (%d of %d B): %d refused samples not kept (%s)",
                      size, self.max_bytes, len(samples), reason)
            return
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        self.batches += 1
        self.rows += len(samples)
        log.error("quarantined %d samples: %s", len(samples), reason)

    def entries(self) -> list[QuarantinedBatch]:
        """Every quarantined batch, oldest first (for an operator or a repair script)."""
        out: list[QuarantinedBatch] = []
        if not self.path.exists():
            return out
        with self.path.open(encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                    samples = tuple(
                        Sample(tag, datetime.fromisoformat(ts), _value_from_json(v), _quality_from_json(int(q)))
                        for tag, ts, v, q in rec["samples"])
                    out.append(QuarantinedBatch(datetime.fromisoformat(rec["at"]), rec["reason"], samples))
                except (ValueError, KeyError, TypeError) as exc:
                    log.error("unreadable quarantine line skipped: %s", exc)
        return out
