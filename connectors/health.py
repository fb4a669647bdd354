"""Link bookkeeping shared by the sources: counters, one log line on failure and one on recovery."""

from __future__ import annotations

import logging
import math
from collections import Counter, deque
from datetime import datetime

from connectors.base import SourceHealth
from plantctl.samples import utcnow

ROUND_TRIP_WINDOW = 1000
"""Round trips kept for the mean and p99: the last this many requests."""


class LinkHealth:
    """Home Assistant coordinator style: a change of state is logged once, not every poll."""

    def __init__(self, source: str, logger: logging.Logger) -> None:
        self._source = source
        self._log = logger
        self.connected = False
        self.last_good_read: datetime | None = None
        self.error_count = 0
        self.reconnect_count = 0
        self.request_plan_size = 0
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None
        self.requests = 0
        self.timeouts = 0
        self.exceptions: Counter[str] = Counter()
        self._round_trips: deque[float] = deque(maxlen=ROUND_TRIP_WINDOW)
        self._failing = False
        self._ever_connected = False
        self._failing_reads: dict[str, str] = {}

    def up(self) -> None:
        """The link is (re)established."""
        if self._ever_connected:
            self.reconnect_count += 1
        self._ever_connected = True
        self.connected = True
        self.last_error = None  # recovered: the error is history (last_error_at), not the present
        self._failing_reads.clear()
        if self._failing:
            self._log.info("source %s: connection restored", self._source)
            self._failing = False

    def down(self, reason: str) -> None:
        """The link is lost or could not be made; logged only on the first failure of a run."""
        self.connected = False
        self.error(reason)
        if not self._failing:
            self._log.warning("source %s: %s", self._source, reason)
            self._failing = True

    def error(self, reason: str, read: str | None = None) -> None:
        """An error; `read` names the read that failed, so only that read's next success clears it."""
        self.error_count += 1
        self.last_error = reason
        self.last_error_at = utcnow()
        if read is not None:
            self._failing_reads.pop(read, None)
            self._failing_reads[read] = reason  # newest last

    def answered(self, round_trip_s: float) -> None:
        """One request answered (data or a device exception), with its round trip."""
        self.requests += 1
        self._round_trips.append(round_trip_s)

    def timed_out(self) -> None:
        self.requests += 1
        self.timeouts += 1

    def refused(self, code: str) -> None:
        """The device answered a read with an exception; counted by code."""
        self.exceptions[code] += 1

    def _round_trip_ms(self) -> tuple[float | None, float | None]:
        if not self._round_trips:
            return None, None
        ordered = sorted(self._round_trips)
        p99 = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]
        return 1000 * sum(ordered) / len(ordered), 1000 * p99

    def good_read(self, read: str | None = None) -> None:
        """A read answered with data: the error is history unless another read is still failing."""
        self.last_good_read = utcnow()
        if read is not None:
            self._failing_reads.pop(read, None)
        self.last_error = next(reversed(self._failing_reads.values()), None)

    def snapshot(self) -> SourceHealth:
        mean_ms, p99_ms = self._round_trip_ms()
        return SourceHealth(
            connected=self.connected,
            last_good_read=self.last_good_read,
            error_count=self.error_count,
            reconnect_count=self.reconnect_count,
            request_plan_size=self.request_plan_size,
            last_error=self.last_error,
            last_error_at=self.last_error_at,
            requests=self.requests,
            timeouts=self.timeouts,
            exceptions=dict(self.exceptions),
            round_trip_mean_ms=mean_ms,
            round_trip_p99_ms=p99_ms,
        )

