"""Login (bearer token + HttpOnly SameSite=Strict cookie + CSRF token), logout, users and API tokens."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth.deps import CSRF_COOKIE, SESSION_COOKIE, Admin, Authenticated, Ctx
from api.auth.roles import Role
from api.auth.store import ApiTokenInfo, User, UserError
from api.context import client_ip, request_address
from api.errors import ApiProblem, problem_responses
from api.schemas import NO_NUL
from api.settings import MIN_PASSWORD_LENGTH, weak_password_reason
from plantctl.audit.audit import AuditAction
from plantctl.samples import utcnow

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["auth"], responses=problem_responses(422))

RoleName = Annotated[str, Field(pattern="^(viewer|operator|engineer|admin)$", examples=["operator"])]
UserName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.\-]{1,63}$", examples=["j.smith"])]


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "username": "operator", "password": "correct horse battery staple"}]})
    username: str = Field(min_length=1, max_length=64, pattern=NO_NUL)
    password: str = Field(min_length=1, max_length=1024)


class UserOut(BaseModel):
    username: str
    role: RoleName
    disabled: bool = False


class LoginOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "access_token": "pcs_…", "token_type": "bearer", "csrf_token": "…", "expires": "2026-11-28T07:10:00Z",
        "user": {"username": "operator", "role": "operator", "disabled": False}}]})
    access_token: str = Field(description="send as Authorization: Bearer; also set as an HttpOnly cookie")
    token_type: str = "bearer"
    csrf_token: str = Field(description="send as X-CSRF-Token on cookie-authenticated writes")
    expires: datetime
    user: UserOut


class MeOut(BaseModel):
    username: str
    role: RoleName
    via: str = Field(description="session, cookie or api-token")


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "username": "j.smith", "role": "operator", "password": "a long passphrase here"}]})
    username: UserName
    role: RoleName
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=1024)


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"role": "engineer"}]})
    role: RoleName | None = None
    disabled: bool | None = None
    password: str | None = Field(default=None, min_length=MIN_PASSWORD_LENGTH, max_length=1024)


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "name": "prometheus", "role": "viewer", "expires_in_days": 365}]})
    name: str = Field(min_length=1, max_length=100, pattern=NO_NUL,
                      description="what uses it, e.g. prometheus, historian-export")
    role: RoleName = "viewer"
    expires_in_days: float | None = Field(default=None, gt=0, le=3650)


class TokenOut(BaseModel):
    id: int
    name: str
    owner: str
    role: RoleName
    created: datetime
    expires: datetime | None
    revoked: datetime | None
    last_used: datetime | None


class IssuedTokenOut(TokenOut):
    token: str = Field(description="shown once; stored only as its SHA-256")


def check_password(password: str, username: str) -> None:
    """The same policy as every other way a password is set (api.auth.password_policy, NIST SP 800-63B)."""
    weak = weak_password_reason(password, username)
    if weak is not None:
        raise ApiProblem(422, "weak-password", "Password refused", f"the password {weak}; choose another "
                         "(a passphrase of several unrelated words works well)")


def _user_out(u: User) -> UserOut:
    return UserOut(username=u.username, role=u.role.label, disabled=u.disabled)


def _token_out(t: ApiTokenInfo) -> TokenOut:
    return TokenOut(id=t.id, name=t.name, owner=t.username, role=t.role.label, created=t.created, expires=t.expires,
                    revoked=t.revoked, last_used=t.last_used)


@router.post("/auth/login", summary="Log in: a bearer token, an HttpOnly session cookie and a CSRF token",
             responses=problem_responses(401, 429))
async def login(body: LoginIn, request: Request, response: Response, ctx: Ctx) -> LoginOut:
    address = request_address(request)
    ip = address.effective
    wait = ctx.throttle.retry_after_s(body.username, ip)
    if wait:
        ctx.count("login_throttled")
        log.warning("login of %r from %s refused for %d s more (throttled after failures)",
                    body.username[:64], address.for_audit, wait)
        raise ApiProblem(429, "login-throttled", "Too many failed logins",
                         f"too many failed logins for this user from this address; retry in {wait} s",
                         headers={"Retry-After": str(wait)})
    user = await ctx.store.authenticate(body.username, body.password)
    if user is None:
        delay = ctx.throttle.failed(body.username, ip)
        ctx.count("login_failed")
        if delay:
            ctx.count("login_backoff")
            log.warning("login of %r from %s failed again: next attempt in %d s", body.username[:64],
                        address.for_audit, delay)
        await ctx.audit.record(body.username[:64] or "?", AuditAction.LOGIN_FAILED, body.username[:64],
                               source_address=address.for_audit)
        raise ApiProblem(401, "bad-credentials", "Login failed", "unknown user, wrong password or disabled account")
    ctx.throttle.succeeded(body.username, ip)
    ctx.count("login_ok")
    session = await ctx.store.open_session(user, address.for_audit, ctx.settings.session_ttl_s)
    max_age = int(ctx.settings.session_ttl_s)
    secure = ctx.settings.cookie_secure
    response.set_cookie(SESSION_COOKIE, session.token, max_age=max_age, httponly=True, secure=secure,
                        samesite="strict", path="/")
    response.set_cookie(CSRF_COOKIE, session.csrf_token, max_age=max_age, httponly=False, secure=secure,
                        samesite="strict", path="/")
    response.headers["Cache-Control"] = "no-store"
    await ctx.audit.record(user.username, AuditAction.LOGIN, user.username, source_address=address.for_audit,
                           detail={"role": user.role.label})
    return LoginOut(access_token=session.token, csrf_token=session.csrf_token, expires=session.expires,
                    user=_user_out(user))


class ThrottleOut(BaseModel):
    username: str | None = Field(description="the user name tried; null for an address-wide throttle")
    address: str
    failures: int = Field(description="failed logins remembered")
    retry_after_s: int = Field(description="seconds until the next attempt is allowed (0: now)")


class ThrottlesCleared(BaseModel):
    cleared: int


@router.get("/auth/throttles", summary="Login throttles in force (admin)", tags=["users"],
            responses=problem_responses(401, 403))
async def list_throttles(ctx: Ctx, _admin: Admin) -> list[ThrottleOut]:
    return [ThrottleOut(username=e.username, address=e.address, failures=e.failures, retry_after_s=e.retry_after_s)
            for e in ctx.throttle.entries()]


@router.delete("/auth/throttles", summary="Clear login throttles of a user and/or an address, or all (admin)",
               tags=["users"], responses=problem_responses(401, 403))
async def clear_throttles(request: Request, ctx: Ctx, admin: Admin,
                          username: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
                          address: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
                          ) -> ThrottlesCleared:
    cleared = ctx.throttle.clear(username, address)
    ctx.count("login_throttle_cleared", cleared)
    log.warning("%s cleared %d login throttle(s) (user %r, address %r)", admin.username, cleared, username, address)
    await ctx.audit.record(admin.username, AuditAction.THROTTLE_CLEAR, username or address or "*",
                           new={"username": username, "address": address, "cleared": cleared},
                           source_address=client_ip(request), detail={"via": admin.via})
    return ThrottlesCleared(cleared=cleared)


@router.post("/auth/logout", status_code=204, summary="End this session (cookie and token)",
             responses=problem_responses(401, 403))
async def logout(request: Request, response: Response, ctx: Ctx, user: Authenticated) -> None:
    if user.via in ("session", "cookie"):
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else request.cookies.get(SESSION_COOKIE, "")
        await ctx.store.close_session(token)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=ctx.settings.cookie_secure, httponly=True,
                           samesite="strict")
    response.delete_cookie(CSRF_COOKIE, path="/", secure=ctx.settings.cookie_secure, samesite="strict")
    await ctx.audit.record(user.username, AuditAction.LOGOUT, user.username, source_address=client_ip(request),
                           detail={"via": user.via})


@router.get("/auth/me", summary="Who am I, with which role", responses=problem_responses(401))
async def me(user: Authenticated) -> MeOut:
    return MeOut(username=user.username, role=user.role.label, via=user.via)


@router.get("/users", summary="Every user (admin)", tags=["users"], responses=problem_responses(401, 403))
async def list_users(ctx: Ctx, _admin: Admin) -> list[UserOut]:
    return [_user_out(u) for u in await ctx.store.list_users()]


@router.post("/users", status_code=201, summary="Create a user (admin)", tags=["users"],
             responses=problem_responses(401, 403, 409),
             description="The password must have at least 12 characters and not be a common or default one.")
async def create_user(body: UserIn, request: Request, ctx: Ctx, admin: Admin) -> UserOut:
    check_password(body.password, body.username)
    try:
        user = await ctx.store.create_user(body.username, Role.parse(body.role), body.password)
    except UserError as exc:
        raise ApiProblem(409, "user-exists", "User not created", str(exc)) from None
    await ctx.audit.record(admin.username, AuditAction.USER_CREATE, user.username, new={"role": user.role.label},
                           source_address=client_ip(request), detail={"via": admin.via})
    return _user_out(user)


@router.patch("/users/{username}", summary="Change a user's role, password or disabled flag (admin)", tags=["users"],
              responses=problem_responses(401, 403, 404, 409))
async def update_user(username: Annotated[str, Path(max_length=64, pattern=NO_NUL)], body: UserPatch,
                      request: Request, ctx: Ctx, admin: Admin) -> UserOut:
    role = Role.parse(body.role) if body.role else None
    if body.password is not None:
        check_password(body.password, username)
    if username == admin.username and ((role is not None and role < Role.ADMIN) or body.disabled):
        raise ApiProblem(409, "self-lockout", "Change refused", "an admin cannot demote or disable themselves")
    try:
        old, new = await ctx.store.update_user(username, role=role, disabled=body.disabled, password=body.password)
    except UserError as exc:
        raise ApiProblem(404, "unknown-user", "Unknown user", str(exc)) from None
    await ctx.audit.record(admin.username, AuditAction.USER_UPDATE, username,
                           old={"role": old.role.label, "disabled": old.disabled},
                           new={"role": new.role.label, "disabled": new.disabled,
                                **({"password": "changed"} if body.password else {})},
                           source_address=client_ip(request), detail={"via": admin.via})
    return _user_out(new)


@router.get("/tokens", summary="API tokens for integrations (admin); the secrets are never shown again",
            tags=["users"], responses=problem_responses(401, 403))
async def list_tokens(ctx: Ctx, _admin: Admin) -> list[TokenOut]:
    return [_token_out(t) for t in await ctx.store.list_api_tokens()]


@router.post("/tokens", status_code=201, summary="Issue an API token acting as you with a role up to yours (admin)",
             tags=["users"], responses=problem_responses(401, 403, 409))
async def issue_token(body: TokenIn, request: Request, ctx: Ctx, admin: Admin) -> IssuedTokenOut:
    owner = await ctx.store.get_user(admin.username)
    assert owner is not None
    expires = utcnow() + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    try:
        token, info = await ctx.store.issue_api_token(owner, body.name, Role.parse(body.role), expires)
    except UserError as exc:
        raise ApiProblem(409, "token-refused", "Token refused", str(exc)) from None
    await ctx.audit.record(admin.username, AuditAction.TOKEN_CREATE, f"token-{info.id}",
                           new={"name": info.name, "role": info.role.label,
                                "expires": None if expires is None else expires.isoformat()},
                           source_address=client_ip(request), detail={"via": admin.via})
    return IssuedTokenOut(token=token, **_token_out(info).model_dump())


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke an API token (admin)", tags=["users"],
               responses=problem_responses(401, 403, 404))
async def revoke_token(token_id: Annotated[int, Path(ge=1, le=2**31 - 1)], request: Request, ctx: Ctx,
                       admin: Admin) -> None:
    if not await ctx.store.revoke_api_token(token_id):
        raise ApiProblem(404, "unknown-token", "Unknown token", f"no active token {token_id}")
    await ctx.audit.record(admin.username, AuditAction.TOKEN_REVOKE, f"token-{token_id}",
                           source_address=client_ip(request), detail={"via": admin.via})
