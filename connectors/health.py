"""Link bookkeeping shared by the sources: counters, one log line on failure and one on recovery."""

from __future__ import annotations

import logging
from datetime import datetime

from connectors.base import SourceHealth
from plantctl.samples import utcnow


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
        self._failing = False
        self._ever_connected = False

    def up(self) -> None:
        """The link is (re)established."""
        if self._ever_connected:
            self.reconnect_count += 1
        self._ever_connected = True
        self.connected = True
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

    def error(self, reason: str) -> None:
        self.error_count += 1
        self.last_error = reason

    def good_read(self) -> None:
        self.last_good_read = utcnow()

    def snapshot(self) -> SourceHealth:
        return SourceHealth(
            connected=self.connected,
            last_good_read=self.last_good_read,
            error_count=self.error_count,
            reconnect_count=self.reconnect_count,
            request_plan_size=self.request_plan_size,
            last_error=self.last_error,
        )

