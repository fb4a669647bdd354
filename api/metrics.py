"""Prometheus text exposition format 0.0.4, written by hand (a few gauge and counter families)."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterable

from plantctl.samples import Sample

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v)) if not float(v).is_integer() else str(int(v))


class Exposition:
    """Collects families in order; each family gets its HELP and TYPE lines once."""

    def __init__(self) -> None:
        self._lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str,
               samples: Iterable[tuple[dict[str, str], float]]) -> None:
        self._lines.append(f"# HELP {name} {help_text}")
        self._lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            self._lines.append(f"{name}{{{label_text}}} {_number(value)}" if label_text else f"{name} {_number(value)}")

    def render(self) -> str:
        return "\n".join(self._lines) + "\n"


class AcquisitionMeter:
    """A bus tap counting samples per source, with the rate over the last `window_s` seconds."""

    def __init__(self, owner: dict[str, str], window_s: float = 10.0) -> None:
        self._owner = owner
        self.window_s = window_s
        self.totals: dict[str, int] = {}
        self._recent: deque[tuple[float, str, int]] = deque()

    def tap(self, batch: list[Sample]) -> None:
        now = time.monotonic()
        per: dict[str, int] = {}
        for s in batch:
            src = self._owner.get(s.tag, "unknown")
            per[src] = per.get(src, 0) + 1
        for src, n in per.items():
            self.totals[src] = self.totals.get(src, 0) + n
            self._recent.append((now, src, n))
        self._trim(now)

    def _trim(self, now: float) -> None:
        while self._recent and self._recent[0][0] < now - self.window_s:
            self._recent.popleft()

    def rates(self) -> dict[str, float]:
        """Samples per second per source over the window (0 for a source that went quiet)."""
        self._trim(time.monotonic())
        out = dict.fromkeys(self.totals, 0.0)
        for _, src, n in self._recent:
            out[src] += n / self.window_s
        return out
