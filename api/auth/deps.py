"""Authentication and role checks as FastAPI dependencies, with CSRF checks on cookie-authenticated writes."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from api.auth.roles import Role
from api.auth.secrets import token_digest
from api.auth.store import Principal
from api.context import ApiContext, get_context
from api.errors import ApiProblem

SESSION_COOKIE = "plantctl_session"
CSRF_COOKIE = "plantctl_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

bearer_scheme = HTTPBearer(auto_error=False, description="a session token from /api/v1/auth/login or an API token")
cookie_scheme = APIKeyCookie(name=SESSION_COOKIE, auto_error=False,
                             description=f"session cookie; writes also need the {CSRF_HEADER} header")

Ctx = Annotated[ApiContext, Depends(get_context)]


def unauthorized(detail: str) -> ApiProblem:
    return ApiProblem(401, "unauthenticated", "Authentication required", detail,
                      headers={"WWW-Authenticate": 'Bearer realm="plantctl"'})


def check_csrf(request: Request, principal: Principal) -> None:
    """Double-submit (OWASP CSRF cheat sheet): header equals cookie, and both match the session's token."""
    header = request.headers.get(CSRF_HEADER, "")
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not header:
        raise ApiProblem(403, "csrf", "CSRF token missing",
                         f"a cookie-authenticated {request.method} needs the {CSRF_HEADER} header "
                         f"(the csrf_token from login, also in the {CSRF_COOKIE} cookie)")
    if not hmac.compare_digest(header, cookie) or principal.csrf_digest is None or \
            not hmac.compare_digest(token_digest(header), principal.csrf_digest):
        raise ApiProblem(403, "csrf", "CSRF token mismatch",
                         f"the {CSRF_HEADER} header does not match this session's CSRF token")


async def resolve_principal(request: Request, ctx: ApiContext, bearer: str | None) -> Principal:
    if bearer:
        principal = await ctx.store.resolve(bearer)
        if principal is None:
            raise unauthorized("the token is unknown, expired or revoked")
        return principal
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        principal = await ctx.store.resolve(cookie, via_cookie=True)
        if principal is None:
            raise unauthorized("the session has expired or was ended; log in again")
        if request.method not in SAFE_METHODS:
            check_csrf(request, principal)
        return principal
    raise unauthorized("send Authorization: Bearer <token>, or log in for a session cookie")


async def current_principal(request: Request, ctx: Ctx,
                            bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
                            _cookie: Annotated[str | None, Depends(cookie_scheme)]) -> Principal:
    return await resolve_principal(request, ctx, bearer.credentials if bearer else None)


def require(role: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting principals of `role` or above (IEC 62443-3-3 SR 2.1 authorisation enforcement)."""

    async def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role < role:
            raise ApiProblem(403, "forbidden", "Role too low",
                             f"this needs role {role.label} or above; {principal.username} is {principal.role.label}")
        return principal

    dependency.__name__ = f"require_{role.label}"
    return dependency


Authenticated = Annotated[Principal, Depends(current_principal)]
Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
Engineer = Annotated[Principal, Depends(require(Role.ENGINEER))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]


def _origin_allowed(request: Request, ctx: ApiContext) -> bool:
    origin = request.headers.get("origin")
    if origin is None:  # not a browser cross-site request (curl, integrations)
        return True
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    return origin == own or origin in ctx.settings.allowed_origins


async def stream_principal(request: Request, ctx: Ctx,
                           bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
                           _cookie: Annotated[str | None, Depends(cookie_scheme)],
                           access_token: Annotated[str | None, Query(
                               description="token for clients that cannot set headers (EventSource)")] = None,
                           ) -> Principal:
    """Live streams: cookie, bearer or ?access_token=; a browser Origin must be ours (cross-site hijacking)."""
    if not _origin_allowed(request, ctx):
        raise ApiProblem(403, "origin", "Origin not allowed",
                         f"origin {request.headers.get('origin')!r} may not open the live stream")
    token = bearer.credentials if bearer else access_token
    return await resolve_principal(request, ctx, token)


StreamViewer = Annotated[Principal, Depends(stream_principal)]
