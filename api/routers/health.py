"""Probes for the supervisor (/healthz, /readyz) and a health report of sources, historian and runtime."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from api.auth.deps import Ctx, Viewer
from api.context import ApiContext
from api.errors import TYPE_PREFIX, problem_response, problem_responses
from plantctl.samples import utcnow

router = APIRouter(tags=["health"])


class Liveness(BaseModel):
    status: str = Field(examples=["ok"])


class Readiness(BaseModel):
    ready: bool
    runtime_started: bool
    sources_connected: int
    sources_total: int


class SourceHealthOut(BaseModel):
    name: str
    connected: bool
    last_good_read: datetime | None
    error_count: int
    reconnect_count: int
    request_plan_size: int
    last_error: str | None


class QueueOut(BaseModel):
    name: str
    depth: int
    max_depth: int
    delivered_batches: int
    dropped_batches: int
    dropped_samples: int


class HealthOut(BaseModel):
    at: datetime
    ready: bool
    runtime_started: bool
    sources: list[SourceHealthOut]
    historian: dict[str, Any] | None = Field(description="writer counters: rows written, spool bytes, outages …")
    bus: dict[str, int]
    queues: list[QueueOut]
    live_clients: int
    alarms_annunciated: int | None
    loops: dict[str, str] = Field(description="loop → mode")


def readiness(ctx: ApiContext) -> Readiness:
    health = ctx.runtime.source_health()
    return Readiness(ready=ctx.runtime.ready(), runtime_started=ctx.runtime.started,
                     sources_connected=sum(1 for h in health.values() if h.connected), sources_total=len(health))


def historian_stats(ctx: ApiContext) -> dict[str, Any] | None:
    hist = ctx.runtime.historian
    if hist is None:
        return None
    stats: Any = hist.stats()
    if dataclasses.is_dataclass(stats) and not isinstance(stats, type):
        stats = dataclasses.asdict(stats)
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in dict(stats).items()}


@router.get("/healthz", summary="Liveness: the process answers (no authentication)")
async def healthz() -> Liveness:
    return Liveness(status="ok")


@router.get("/readyz", summary="Readiness: runtime started and every source connected (no authentication)",
            description="503 is a problem document carrying the readiness fields as extension members.",
            response_model=Readiness, responses=problem_responses(503))
async def readyz(request: Request, ctx: Ctx) -> Any:
    r = readiness(ctx)
    if r.ready:
        return r
    down = sorted(n for n, h in ctx.runtime.source_health().items() if not h.connected)
    detail = "the runtime has not started" if not r.runtime_started else f"sources not connected: {', '.join(down)}"
    return problem_response(request, 503, title="Not ready", detail=detail, type_=TYPE_PREFIX + "not-ready",
                            extensions=r.model_dump())


@router.get("/api/v1/health", summary="Sources, historian, queues, alarms and loops at a glance",
            responses=problem_responses(401, 403))
async def health(ctx: Ctx, _user: Viewer) -> HealthOut:
    rt = ctx.runtime
    return HealthOut(
        at=utcnow(), ready=rt.ready(), runtime_started=rt.started,
        sources=[SourceHealthOut(name=n, **dataclasses.asdict(h)) for n, h in sorted(rt.source_health().items())],
        historian=historian_stats(ctx),
        bus={"published_batches": rt.bus.published_batches, "published_samples": rt.bus.published_samples,
             "tap_errors": rt.bus.tap_errors},
        queues=[QueueOut(name=n, **dataclasses.asdict(q)) for n, q in sorted(rt.bus.stats().items())],
        live_clients=ctx.live_clients,
        alarms_annunciated=None if ctx.alarms is None else len(ctx.alarms.engine.annunciated()),
        loops={} if ctx.loops is None else {n: lp.mode.value for n, lp in ctx.loops.items()})
