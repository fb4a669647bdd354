"""Resolved principals kept a few seconds in the API process, so an authenticated request costs no database
round trip (issue 20: the session lookup was the ceiling of GET /live).

Changes made through this process (logout, password, role, disable, token revoke) drop the entries they
affect at once (AuthStore calls the `forget_*` methods); changes made by another process (the `plantctl users`
CLI, SQL by hand) take effect within `ttl_s`. An entry never outlives its credential's own expiry.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from api.auth.store import Principal

DEFAULT_TTL_S = 5.0
DEFAULT_MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class _Entry:
    principal: Principal
    fresh_until: float  # monotonic: when the database must be asked again
    expires_at: float | None  # wall clock (epoch s): the session's or token's own expiry


class PrincipalCache:
    """Bounded (the longest-kept entry dropped first), keyed by the credential's SHA-256 and how it came."""

    def __init__(self, ttl_s: float = DEFAULT_TTL_S, max_entries: int = DEFAULT_MAX_ENTRIES, *,
                 monotonic: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        if ttl_s < 0 or max_entries < 1:
            raise ValueError(f"a principal cache needs ttl_s >= 0 and max_entries >= 1, not {ttl_s}, {max_entries}")
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._monotonic = monotonic
        self._wall = wall
        self._entries: OrderedDict[tuple[bytes, bool], _Entry] = OrderedDict()
        self.generation = 0  # grows with every forget: a lookup begun before one must not be kept

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, digest: bytes, via_cookie: bool) -> Principal | None:
        """The cached principal if still fresh and its credential not expired; a stale entry is dropped."""
        key = (digest, via_cookie)
        entry = self._entries.get(key)
        if entry is None:
            return None
        expired = entry.expires_at is not None and self._wall() >= entry.expires_at
        if expired or self._monotonic() >= entry.fresh_until:
            del self._entries[key]
            return None
        return entry.principal

    def put(self, digest: bytes, via_cookie: bool, principal: Principal, expires: datetime | None,
            generation: int) -> None:
        """Keep a principal looked up when `generation` was current; refused if anything was forgotten since (the
        lookup may have read the database before a logout or revoke committed)."""
        if self.ttl_s == 0 or generation != self.generation:
            return
        key = (digest, via_cookie)
        self._entries[key] = _Entry(principal, self._monotonic() + self.ttl_s,
                                    None if expires is None else expires.timestamp())
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def forget_credential(self, digest: bytes) -> None:
        """A session ended (logout): both ways it may have come (bearer and cookie)."""
        self.generation += 1
        self._entries.pop((digest, False), None)
        self._entries.pop((digest, True), None)

    def forget_user(self, user_id: int) -> None:
        """A user's role, password or enabled state changed: every session and token of theirs."""
        self._drop(lambda p: p.user_id == user_id)

    def forget_api_token(self, token_id: int) -> None:
        credential = f"token-{token_id}"
        self._drop(lambda p: p.via == "api-token" and p.credential_id == credential)

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()

    def _drop(self, matches: Callable[[Principal], bool]) -> None:
        self.generation += 1
        for key in [k for k, e in self._entries.items() if matches(e.principal)]:
            del self._entries[key]
