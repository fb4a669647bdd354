"""One error shape for every failure: RFC 9457 problem details, never a traceback."""

from __future__ import annotations

import logging
import uuid
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:plantctl:problem:"  # RFC 9457 §3.1.1: a URI; documented in docs/api.md


class ValidationIssue(BaseModel):
    location: list[str | int] = Field(description="where in the request: e.g. ['body', 'setpoint']")
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details; `errors` lists each validation issue, `request_id` ties to the server log."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "type": "urn:plantctl:problem:out-of-range", "title": "Value out of range", "status": 422,
        "detail": "setpoint 11 pH for PHC-101 is outside its limits [6.5, 8.5] pH"}]})

    type: str = Field(default="about:blank", description="URI naming the problem type")
    title: str = Field(description="short summary of the problem type")
    status: int = Field(ge=400, le=599, description="the HTTP status code")
    detail: str = Field(default="", description="what went wrong in this occurrence")
    instance: str | None = Field(default=None, description="the request path")
    errors: list[ValidationIssue] | None = None
    request_id: str | None = None


class ApiProblem(Exception):
    """Raised by handlers for a domain refusal; rendered as a problem with its own type and title."""

    def __init__(self, status: int, slug: str, title: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.headers = headers or {}


def problem_response(request: Request, status: int, *, title: str | None = None, detail: str = "",
                     type_: str = "about:blank", headers: dict[str, str] | None = None,
                     errors: list[ValidationIssue] | None = None, request_id: str | None = None,
                     extensions: dict[str, Any] | None = None) -> JSONResponse:
    """extensions: RFC 9457 §3.2 extension members, added beside the standard ones."""
    body = Problem(type=type_, title=title or _phrase(status), status=status, detail=detail,
                   instance=request.url.path, errors=errors, request_id=request_id)
    content = {**(extensions or {}), **body.model_dump(exclude_none=True)}
    return JSONResponse(content, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else ""
    if detail == _phrase(exc.status_code):
        detail = ""
    if exc.status_code == 404 and not detail:
        detail = f"no resource at {request.url.path}"
    if exc.status_code == 405 and not detail:
        detail = f"{request.method} is not allowed on {request.url.path}"
    return problem_response(request, exc.status_code, detail=detail, headers=dict(exc.headers or {}))


async def _api_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiProblem)
    return problem_response(request, exc.status, title=exc.title, detail=exc.detail,
                            type_=TYPE_PREFIX + exc.slug, headers=exc.headers)


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    issues = [ValidationIssue(location=[p if isinstance(p, int) else str(p) for p in e.get("loc", ())],
                              message=str(e.get("msg", "invalid"))) for e in exc.errors()]
    detail = "; ".join(f"{'.'.join(str(p) for p in i.location)}: {i.message}" for i in issues[:5])
    return problem_response(request, 422, title="Request validation failed", detail=detail,
                            type_=TYPE_PREFIX + "validation", errors=issues)


def internal_error(request: Request, exc: BaseException) -> JSONResponse:
    """The one answer to an unexpected failure: a 500 problem whose request_id finds the trace in the log."""
    request_id = uuid.uuid4().hex[:12]
    log.error("unhandled error on %s %s (request_id %s)", request.method, request.url.path, request_id,
              exc_info=exc)
    return problem_response(request, 500, detail="an internal error occurred; the server log has the details",
                            type_=TYPE_PREFIX + "internal", request_id=request_id)


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    return internal_error(request, exc)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(ApiProblem, _api_problem)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(Exception, _unhandled)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries documenting that these statuses answer with a problem document."""
    return {s: {"model": Problem, "description": _phrase(s),
                "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            for s in statuses}
