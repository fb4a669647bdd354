"""Login throttling that slows guessing without locking anyone out (IEC 62443-3-3 SR 1.11 within FR 7).

Failures count per (user name, client address): each failure past a few free ones doubles the delay before the
next attempt of that pair may be tried, up to a ceiling. Another address is never slowed by them, so nobody can
lock `operator` out of the HMI from elsewhere; a successful login clears its pair and is never counted. A second,
looser backoff per address alone slows one address guessing across many user names.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TypeVar

from api.settings import ApiSettings

_K = TypeVar("_K", bound=Hashable)


@dataclass(slots=True)
class _Backoff:
    failures: int
    last_failure: float
    blocked_until: float


@dataclass(frozen=True, slots=True)
class ThrottleEntry:
    """One throttle as an admin sees it; `username` is None for an address-wide throttle."""

    username: str | None
    address: str
    failures: int
    retry_after_s: int


class LoginThrottle:
    """Growing delays per (user, address) and per address; memory bounded by recently failing keys."""

    MAX_KEYS = 100_000

    def __init__(self, *, free_failures: int = 3, base_delay_s: float = 1, max_delay_s: float = 60,
                 address_free_failures: int = 30, forget_after_s: float = 900,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.free_failures = free_failures
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.address_free_failures = address_free_failures
        self.forget_after_s = forget_after_s
        self._clock = clock
        self._pairs: dict[tuple[str, str], _Backoff] = {}
        self._addresses: dict[str, _Backoff] = {}

    def _delay(self, failures: int, free: int) -> float:
        over = failures - free
        if over <= 0:
            return 0.0
        return float(min(self.max_delay_s, self.base_delay_s * 2.0 ** min(over - 1, 40)))

    def _live(self, table: dict[_K, _Backoff], key: _K) -> _Backoff | None:
        entry = table.get(key)
        if entry is not None and entry.last_failure <= self._clock() - self.forget_after_s:
            del table[key]
            return None
        return entry

    def retry_after_s(self, username: str, address: str) -> int:
        """0 when this user may try from this address now, else whole seconds to wait."""
        now = self._clock()
        waits = [b.blocked_until - now for b in (self._live(self._pairs, (username.lower(), address)),
                                                 self._live(self._addresses, address)) if b is not None]
        wait = max(waits, default=0.0)
        return max(1, math.ceil(wait)) if wait > 0 else 0

    def failed(self, username: str, address: str) -> int:
        """Count a failure; returns the delay (s, 0 if none) now imposed on this user from this address."""
        now = self._clock()
        self._forget_if_flooded()
        pair = self._live(self._pairs, (username.lower(), address)) or _Backoff(0, now, now)
        pair.failures += 1
        pair.last_failure = now
        pair.blocked_until = now + self._delay(pair.failures, self.free_failures)
        self._pairs[(username.lower(), address)] = pair
        addr = self._live(self._addresses, address) or _Backoff(0, now, now)
        addr.failures += 1
        addr.last_failure = now
        addr.blocked_until = now + self._delay(addr.failures, self.address_free_failures)
        self._addresses[address] = addr
        return math.ceil(max(pair.blocked_until, addr.blocked_until) - now)

    def succeeded(self, username: str, address: str) -> None:
        """A good password ends the backoff of its own pair; successes are never counted."""
        self._pairs.pop((username.lower(), address), None)

    def entries(self) -> list[ThrottleEntry]:
        """Every throttle with failures still remembered, most failures first."""
        now = self._clock()
        out = [ThrottleEntry(u, a, b.failures, max(0, math.ceil(b.blocked_until - now)))
               for (u, a), b in list(self._pairs.items()) if self._live(self._pairs, (u, a)) is not None]
        out += [ThrottleEntry(None, a, b.failures, max(0, math.ceil(b.blocked_until - now)))
                for a, b in list(self._addresses.items()) if self._live(self._addresses, a) is not None]
        return sorted(out, key=lambda e: (-e.failures, e.address, e.username or ""))

    def clear(self, username: str | None = None, address: str | None = None) -> int:
        """Forget the throttles matching the user name and/or address (both None: all); returns how many."""
        user = username.lower() if username is not None else None
        pairs = [k for k in self._pairs if (user is None or k[0] == user) and (address is None or k[1] == address)]
        addrs = [a for a in self._addresses if user is None and (address is None or a == address)]
        for k in pairs:
            del self._pairs[k]
        for a in addrs:
            del self._addresses[a]
        return len(pairs) + len(addrs)

    def _forget_if_flooded(self) -> None:
        _forget_stalest(self._pairs, self.MAX_KEYS)
        _forget_stalest(self._addresses, self.MAX_KEYS)


def login_throttle(settings: ApiSettings) -> LoginThrottle:
    """The throttle the settings describe (PLANTCTL_LOGIN_*)."""
    return LoginThrottle(free_failures=settings.login_free_failures, base_delay_s=settings.login_base_delay_s,
                         max_delay_s=settings.login_max_delay_s,
                         address_free_failures=settings.login_address_free_failures,
                         forget_after_s=settings.login_window_s)


def _forget_stalest(table: dict[_K, _Backoff], limit: int) -> None:
    """A flood of distinct keys: forget the stalest tenth rather than grow without bound."""
    if len(table) > limit:
        for key in sorted(table, key=lambda k: table[k].last_failure)[: limit // 10]:
            del table[key]
