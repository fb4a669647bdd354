"""The HTTP face of the service: an app factory over a running PlantRuntime."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from psycopg_pool import AsyncConnectionPool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.audit import ApiAudit
from api.auth.bootstrap import AuthSetupError, check_production_admin
from api.auth.ratelimit import LoginThrottle
from api.auth.store import AuthStore
from api.context import ApiContext
from api.errors import PROBLEM_MEDIA_TYPE, install_problem_handlers
from api.metrics import AcquisitionMeter
from api.routers import alarms as alarms_router
from api.routers import (
    audit,
    auth,
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
from api.routers import loops as loops_router
from api.routers import notify as notify_router
from api.routers import panel as panel_router
from api.routers import simulator as simulator_router
from api.settings import ApiSettings
from control.loop import Loop
from plantctl import __version__
from plantctl.alarms.engine import AlarmEngine
from plantctl.historian.migrate import apply_migrations
from plantctl.runtime.service import PlantRuntime
from sim.facade.runner import SimulatedPlc

log = logging.getLogger(__name__)

DESCRIPTION = """Monitoring and dosing control of a wastewater neutralisation plant.

Authenticate with `POST /api/v1/auth/login` (a bearer token, plus an HttpOnly SameSite=Strict session cookie
whose writes need the `X-CSRF-Token` header) or an API token issued by an admin. Roles: viewer < operator <
engineer < admin. Every error is an RFC 9457 problem document (`application/problem+json`).
"""

_SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                     (b"referrer-policy", b"no-referrer")]
# The panel loads only its own files and the vendored uPlot from this origin: no inline script or style,
# no third-party host, never framed (CSP Level 3). FastAPI's /docs pages load Swagger UI from a CDN and
# run inline script, so they go without it.
_CSP = (b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
_NO_CSP_PATHS = ("/docs", "/redoc")


_QUERY_SECRET = re.compile(r"((?:^|[?&])access_token=)[^&\s]*")


class RedactQueryTokens(logging.Filter):
    """uvicorn's access log prints the full path; live streams carry ?access_token= (EventSource sets no header)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_QUERY_SECRET.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args)
        return True


def redact_access_log() -> None:
    """Mask query tokens in uvicorn's access log (a filter on its logger survives uvicorn's dictConfig)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactQueryTokens) for f in access.filters):
        access.addFilter(RedactQueryTokens())


class SecurityHeaders:
    """Adds headers that keep browsers from sniffing, framing or caching API answers (pure ASGI: SSE-safe)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers.extend(h for h in _SECURITY_HEADERS if h[0] not in names)
                if _CSP[0] not in names and not str(scope.get("path", "")).startswith(_NO_CSP_PATHS):
                    headers.append(_CSP)
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(runtime: PlantRuntime, *, settings: ApiSettings | None = None,
               loops: Mapping[str, Loop] | None = None, alarms: AlarmEngine | None = None,
               simulator: SimulatedPlc | None = None) -> FastAPI:
    """The runtime's lifecycle belongs to the caller (plantctl run); the app owns its database pool.

    loops and alarms default to the runtime's `loops` and `alarms` attributes when it has them; the simulator
    bench (/api/v1/simulator) is mounted only with a simulator (argument or the runtime's `simulator`).
    """
    configured = settings or ApiSettings()
    redact_access_log()
    meter = AcquisitionMeter({t.name: t.source for t in runtime.config.tags})
    runtime.bus.add_tap("api-metrics", meter.tap)
    loops = loops if loops is not None else getattr(runtime, "loops", None)
    alarms = alarms if alarms is not None else getattr(runtime, "alarms", None)

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
        app.state.ctx = ApiContext(
            runtime=runtime, settings=settings, pool=pool, store=AuthStore(pool), audit=ApiAudit(pool),
            throttle=LoginThrottle(settings.login_max_failures_per_user, settings.login_max_attempts_per_ip,
                                   settings.login_window_s),
            meter=meter, loops=loops, alarms=alarms)
        try:
            yield
        finally:
            app.state.ctx = None
            await pool.close()

    app = FastAPI(title="plantctl", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  openapi_tags=[{"name": n} for n in ("auth", "users", "tags", "live", "trends", "alarms", "loops",
                                                      "audit", "reports", "overview", "logbook", "health",
                                                      "metrics")])
    app.state.runtime = runtime
    app.state.ctx = None
    install_problem_handlers(app)
    for r in (health.router, auth.router, tags.router, tag_writes.router, live.router, trends.router,
              alarms_router.router, loops_router.router, audit.router, reports.router, overview.router, logbook.router,
              handover.router, metrics.router):
        app.include_router(r)
    if runtime.notifier is not None:  # on-call notification: mounted only with a notifications: section
        app.include_router(notify_router.routes)
    simulator_router.install(app, simulator if simulator is not None else getattr(runtime, "simulator", None))
    app.include_router(panel_router.panel_router())  # the operator panel, after (and below) every API route
    app.add_middleware(SecurityHeaders)

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
            responses.setdefault("500", {"description": "Internal Server Error",
                                         "content": {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}})
    schemas = spec.get("components", {}).get("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    return spec
