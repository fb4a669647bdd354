"""Everything a request handler may need, built once per app and found on app.state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from psycopg_pool import AsyncConnectionPool

from api.auth.ratelimit import LoginThrottle
from api.auth.store import AuthStore
from api.live_snapshot import EncodedLive
from api.metrics import AcquisitionMeter
from api.proxy import ClientAddress, client_address
from api.settings import ApiSettings
from control.loop import Loop
from plantctl.alarms.service import AlarmService
from plantctl.audit import AuditTrail
from plantctl.runtime.service import PlantRuntime


@dataclass
class ApiContext:
    runtime: PlantRuntime
    settings: ApiSettings
    pool: AsyncConnectionPool[Any]
    store: AuthStore
    audit: AuditTrail
    throttle: LoginThrottle
    meter: AcquisitionMeter
    loops: Mapping[str, Loop] | None = None
    alarms: AlarmService | None = None
    live_clients: int = 0
    live_streams: dict[str, int] = field(default_factory=dict)  # open live streams per user name
    counters: dict[str, int] = field(default_factory=dict)
    encoded: EncodedLive | None = None  # the live table's JSON, built on first use

    def encoded_live(self) -> EncodedLive:
        """The live table's shared JSON (made anew if the runtime's plant config was replaced)."""
        if self.encoded is None or self.encoded.config is not self.runtime.config:
            self.encoded = EncodedLive(self.runtime.live, self.runtime.config, self.runtime.tags)
        return self.encoded

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n


async def get_context(request: Request) -> ApiContext:
    """async: FastAPI runs a sync dependency in its threadpool, a hop per request that buys nothing here."""
    ctx = getattr(request.app.state, "ctx", None)
    if ctx is None:  # the lifespan has not run (or failed): nothing can be served safely
        from api.errors import ApiProblem
        raise ApiProblem(503, "not-ready", "Service starting", "the API is not started yet")
    assert isinstance(ctx, ApiContext)
    return ctx


def request_address(request: Request) -> ClientAddress:
    """The peer, and the forwarded client when the peer is one of PLANTCTL_TRUSTED_PROXIES."""
    ctx = getattr(request.app.state, "ctx", None)
    trusted = ctx.settings.trusted_proxies if isinstance(ctx, ApiContext) else []
    return client_address(request, trusted)


def client_ip(request: Request) -> str:
    """The address the audit trail records: the peer, or 'forwarded via peer' behind a trusted proxy."""
    return request_address(request).for_audit
