"""The PLC's supervisory heartbeat watchdog: pumps go to their safe state when the supervisor goes quiet."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class HeartbeatWatchdog:
    """Arms on the first heartbeat change, trips after `timeout_s` (wall clock) without one, clears on the next.

    Pure state machine: the caller passes monotonic wall-clock seconds. timeout_s <= 0 disables it.
    """

    timeout_s: float = 5.0
    value: int = 0
    armed: bool = False
    tripped: bool = False
    trips: int = 0  # how many times it tripped since start
    _last_change_s: float = 0.0

    def beat(self, value: int, now_s: float) -> bool:
        """Record a heartbeat write; returns True when this beat clears a trip."""
        if value == self.value:
            return False  # an unchanged counter is no sign of life (nor is writing the initial 0)
        self.value = value
        self.armed = True
        self._last_change_s = now_s
        if self.tripped:
            self.tripped = False
            return True
        return False

    def check(self, now_s: float) -> bool:
        """Returns True exactly once per trip, when the heartbeat has been still for longer than timeout_s."""
        if self.timeout_s <= 0 or not self.armed or self.tripped:
            return False
        if now_s - self._last_change_s > self.timeout_s:
            self.tripped = True
            self.trips += 1
            return True
        return False

    def silent_for_s(self, now_s: float) -> float:
        return now_s - self._last_change_s if self.armed else 0.0
