"""Login throttling per user name and per client IP (IEC 62443-3-3 SR 1.11, unsuccessful login attempts)."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable


class SlidingWindow:
    """At most `limit` events per key in any `window_s` seconds; memory bounded by keys seen recently."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._events: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        now = self._clock()
        q = self._events.get(key)
        if q is None:
            return deque()
        while q and q[0] <= now - self.window_s:
            q.popleft()
        if not q:
            del self._events[key]
        return q

    def retry_after_s(self, key: str) -> int:
        """0 when another event is allowed now, else whole seconds until the oldest event leaves the window."""
        q = self._recent(key)
        if len(q) < self.limit:
            return 0
        return max(1, math.ceil(q[0] + self.window_s - self._clock()))

    def hit(self, key: str) -> None:
        self._recent(key)
        self._events.setdefault(key, deque()).append(self._clock())
        if len(self._events) > 100_000:  # a flood of distinct keys: forget the stalest
            for k in list(self._events)[:10_000]:
                del self._events[k]

    def clear(self, key: str) -> None:
        self._events.pop(key, None)


class LoginThrottle:
    """Failures count against the user name; every attempt counts against the client IP."""

    def __init__(self, max_failures_per_user: int, max_attempts_per_ip: int, window_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.per_user = SlidingWindow(max_failures_per_user, window_s, clock)
        self.per_ip = SlidingWindow(max_attempts_per_ip, window_s, clock)

    def retry_after_s(self, username: str, client_ip: str) -> int:
        return max(self.per_user.retry_after_s(username.lower()), self.per_ip.retry_after_s(client_ip))

    def attempt(self, client_ip: str) -> None:
        self.per_ip.hit(client_ip)

    def failed(self, username: str) -> None:
        self.per_user.hit(username.lower())

    def succeeded(self, username: str) -> None:
        self.per_user.clear(username.lower())
