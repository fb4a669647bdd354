"""The HTTP face of the service: an app factory over a running PlantRuntime."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from psycopg_pool import AsyncConnectionPool

from api.auth.bootstrap import AuthSetupError, check_production_admin
from api.auth.principal_cache import PrincipalCache
from api.auth.ratelimit import login_throttle
from api.auth.store import AuthStore
from api.context import ApiContext
from api.docs_pages import docs_router
from api.errors import PROBLEM_MEDIA_TYPE, install_problem_handlers
from api.hardening import SecurityHeaders
from api.log_redaction import redact_access_log
from api.metrics import AcquisitionMeter
from api.routers import alarms as alarms_router
from api.routers import (
    audit,
    auth,
    column,
    handover,
    health,
    live,
    logbook,
    metrics,
    overview,
    reports,
    tag_writes,
    tags,
    trends,
)
from api.routers import fleet as fleet_router
from api.routers import loops as loops_router
from api.routers import notify as notify_router
from api.routers import panel as panel_router
from api.settings import ApiSettings
from control.loop import Loop
from plantctl import __version__
from plantctl.alarms.service import AlarmService
from plantctl.audit import AuditTrail
from plantctl.historian.migrate import apply_migrations
from plantctl.runtime.service import PlantRuntime

log = logging.getLogger(__name__)

DESCRIPTION = """Monitoring and dosing control of a wastewater neutralisation plant.

Authenticate with `POST /api/v1/auth/login` (a bearer token, plus an HttpOnly SameSite=Strict session cookie
whose writes need the `X-CSRF-Token` header) or an API token issued by an admin. Roles: viewer < operator <
engineer < admin. Every error is an RFC 9457 problem document (`application/problem+json`).
"""

def create_app(runtime: PlantRuntime, *, settings: ApiSettings | None = None,
               loops: Mapping[str, Loop] | None = None, alarms: AlarmService | None = None,
               simulator: object | None = None) -> FastAPI:
    """The app's lifespan starts the runtime and stops it (flushing the historian) when uvicorn shuts down.

    A runtime already running when the app starts (a second app served over the same service) is left to
    whoever started it. loops and alarms default to the runtime's `loops` and `alarms` attributes; the
    simulator bench (/api/v1/simulator) is mounted only with a simulator (argument or the runtime's
    `simulator`), and only then is the simulator's code imported.
    """
    configured = settings or ApiSettings()
    redact_access_log()
    meter = AcquisitionMeter(runtime.tags.owners)
    runtime.bus.add_tap("api-metrics", meter.tap)
    loops = loops if loops is not None else runtime.loops
    alarms = alarms if alarms is not None else runtime.alarms
    if runtime.loops is None:  # the write gate must see the loops the API shows (ownership of outputs)
        runtime.loops = loops

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings = configured
        if not settings.database_url:  # the same URL as every component: env, else the local database
            from plantctl.db import database_url
            settings = settings.model_copy(update={"database_url": await asyncio.to_thread(database_url)})
        url = settings.database_url
        if not url:
            raise AuthSetupError("no database: set PLANTCTL_DATABASE_URL (or run plantctl db up)")
        await asyncio.to_thread(apply_migrations, url)
        if settings.mode == "production":
            await asyncio.to_thread(check_production_admin, url)
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            url, min_size=1, max_size=settings.db_pool_max, open=False, check=AsyncConnectionPool.check_connection,
            kwargs={"autocommit": True, "connect_timeout": 5}, timeout=10)
        await pool.open(wait=True, timeout=15)
        # one audit writer for the service: the runtime's (built with it), else one on this pool for everyone
        own_trail = runtime.audit is None
        if own_trail:
            runtime.audit = AuditTrail(pool=pool)
        trail = runtime.audit
        assert trail is not None
        own_alarm_trail = alarms is not None and alarms.audit is None
        if alarms is not None and own_alarm_trail:
            alarms.audit = trail
        app.state.ctx = ApiContext(
            runtime=runtime, settings=settings, pool=pool, audit=trail,
            store=AuthStore(pool, PrincipalCache(settings.auth_cache_ttl_s, settings.auth_cache_max_entries)),
            throttle=login_throttle(settings),
            meter=meter, loops=loops, alarms=alarms)
        owns_runtime = not runtime.started
        try:
            if owns_runtime:
                await runtime.start()
            yield
        finally:
            try:
                if owns_runtime:
                    await runtime.stop()  # sources closed, loops and journals flushed, then the historian
                    log.info("runtime stopped")
            finally:
                app.state.ctx = None
                if own_trail:  # the trail goes with this app's pool
                    runtime.audit = None
                if alarms is not None and own_alarm_trail:
                    alarms.audit = None
                await pool.close()

    app = FastAPI(title="plantctl", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None,  # behind login: api.docs_pages
                  openapi_tags=[{"name": n} for n in ("auth", "users", "tags", "live", "trends", "alarms", "loops",
                                                      "audit", "reports", "overview", "column", "logbook", "health",
                                                      "metrics", "fleet")])
    app.state.runtime = runtime
    app.state.settings = configured  # api.server_limits.uvicorn_config serves it with these limits
    app.state.ctx = None
    install_problem_handlers(app)
    # the live table first: routes are matched in order, and it is the path polled most (issue 20)
    for r in (live.router, health.router, auth.router, tags.router, tag_writes.router, trends.router,
              alarms_router.router, loops_router.router, audit.router, reports.router, overview.router, logbook.router,
              handover.router, column.router, metrics.router, fleet_router.router):
        app.include_router(r)
    if runtime.notifier is not None:  # on-call notification: mounted only with a notifications: section
        app.include_router(notify_router.routes)
    plc = simulator if simulator is not None else getattr(runtime, "simulator", None)
    if plc is not None:
        from api.routers import simulator as simulator_router  # the simulator (and scipy) only when simulating

        simulator_router.install(app, plc)
    app.include_router(docs_router(app))
    app.include_router(panel_router.panel_router())  # the operator panel, after (and below) every API route
    app.add_middleware(SecurityHeaders, allowed_hosts=configured.allowed_hosts)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problem_openapi(get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes,
                tags=app.openapi_tags))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def problem_openapi(spec: dict[str, Any]) -> dict[str, Any]:
    """Every error answer documented as application/problem+json (FastAPI's default 422 shape is not ours)."""
    for ops in spec.get("paths", {}).values():
        for op in ops.values():
            responses = op.setdefault("responses", {})
            for status, resp in list(responses.items()):
                content = resp.get("content", {})
                refs = str(content)
                if status.startswith(("4", "5")) and ("HTTPValidationError" in refs or "Problem" in refs):
                    resp["content"] = {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}
            if "requestBody" in op:  # a body that is not JSON (or not UTF-8) is refused before validation
                responses.setdefault("400", {"description": "Bad Request: the body is not valid JSON in UTF-8",
                                             "content": {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}})
            responses.setdefault("500", {"description": "Internal Server Error",
                                         "content": {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}})
    schemas = spec.get("components", {}).get("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    return spec
