"""The API's one path into the audit trail (plantctl.audit): who, when, what, old/new and from where."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from plantctl.audit.audit import AuditAction, AuditPage, AuditTrail

# Actions of user and token administration, not (yet) in plantctl.audit's AuditAction.
API_ONLY_ACTIONS = frozenset({"user_create", "user_update", "token_create", "token_revoke", "throttle_clear",
                              "simulator"})  # simulator: fault injection on the simulated PLC (api.routers.simulator)


class ApiAudit:
    """Records every accepted write (IEC 62443-3-3 SR 2.8); administration actions go straight to audit_log."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool
        self.trail = AuditTrail(pool=pool)

    async def record(self, actor: str, action: AuditAction | str, target: str, *, old: Any = None, new: Any = None,
                     source_address: str = "", detail: dict[str, Any] | None = None) -> None:
        if str(action) in API_ONLY_ACTIONS:
            async with self._pool.connection() as conn:
                await conn.execute(
                    "INSERT INTO audit_log (actor, action, target, old_value, new_value, source_address, detail) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (actor, str(action), target, None if old is None else Jsonb(old),
                     None if new is None else Jsonb(new), source_address, Jsonb(detail or {})))
            return
        await self.trail.record(actor, action, target, old, new, source_address, detail)

    async def query(self, **filters: Any) -> AuditPage:
        return await self.trail.query(**filters)
