"""The service's one connection pool: every read and short write of a service goes through it.

Writers that stream (the historian's COPY, the alarm and control journals) keep one dedicated
connection each, so a long COPY never starves a request; everything else — historian queries and
jobs, alarm restore and journal reads, the audit trail, the API — borrows from this pool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

ServicePool = AsyncConnectionPool[Any]


def service_pool(database_url: str, *, max_size: int = 8, connect_timeout_s: float = 5.0,
                 name: str = "plantctl") -> ServicePool:
    """A closed pool (open it in start()); checked connections, so the first query after a server restart works."""
    return AsyncConnectionPool(database_url, min_size=1, max_size=max_size, open=False, name=name,
                               check=AsyncConnectionPool.check_connection, timeout=connect_timeout_s,
                               kwargs={"autocommit": True, "connect_timeout": max(2, int(connect_timeout_s))})


class PoolLifecycle:
    """The pool as a runtime component: opened at start (without waiting for the database), closed at stop."""

    def __init__(self, pool: ServicePool) -> None:
        self.pool = pool

    async def start(self) -> None:
        await self.pool.open(wait=False)  # a no-op when already open

    async def stop(self) -> None:
        await self.pool.close()


@asynccontextmanager
async def connection(source: str | ServicePool, connect_timeout_s: float = 5.0
                     ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A connection from the service pool, or (tools, tests) a fresh one to a URL, closed after use."""
    if isinstance(source, str):
        async with await psycopg.AsyncConnection.connect(source, connect_timeout=max(1, int(connect_timeout_s))) as c:
            yield c
    else:
        async with source.connection(timeout=connect_timeout_s) as c:
            yield c
