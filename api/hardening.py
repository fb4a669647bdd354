"""The outermost layer of the app: every answer, the 500 path included, leaves with the security headers, and a
request for a Host we do not serve is refused before it reaches a route (DNS rebinding)."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import TYPE_PREFIX, internal_error, problem_response

log = logging.getLogger(__name__)

SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer")]
# The panel and the API docs load only files from this origin: no inline script or style, no third-party host,
# never framed (CSP Level 3).
CSP = (b"content-security-policy",
       b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def host_allowed(host_header: str, allowed: list[str]) -> bool:
    """The Host header's name (port dropped) equals an allowed name, or ends with one given as '*.domain'."""
    host = host_header.strip().lower()
    if host.startswith("["):  # [::1]:8080
        name = host[1:host.find("]")] if "]" in host else host
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    for entry in allowed:
        entry = entry.strip().lower().strip("[]")
        if entry == "*" or name == entry or (entry.startswith("*.") and name.endswith(entry[1:])):
            return True
    return False


class SecurityHeaders:
    """Pure ASGI (SSE-safe): adds the headers to every response; answers 500 itself if the app raises, and 400
    for a Host outside `allowed_hosts` (None: any host, for apps not built from settings)."""

    def __init__(self, app: ASGIApp, allowed_hosts: list[str] | None = None) -> None:
        self.app = app
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in names)
                if CSP[0] not in names:
                    headers.append(CSP)
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        if self.allowed_hosts is not None:
            host = Request(scope).headers.get("host", "")
            if not host_allowed(host, self.allowed_hosts):
                log.warning("refused a request for host %r (not in PLANTCTL_ALLOWED_HOSTS)", host[:100])
                response = problem_response(
                    Request(scope), 400, title="Host not served", type_=TYPE_PREFIX + "host",
                    detail="this service does not answer for that Host header; add it to PLANTCTL_ALLOWED_HOSTS")
                await response(scope, receive, send_with_headers)
                return
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:  # the 500 path: same shape and headers as every other error
            if started:
                raise  # a stream broke mid-answer: nothing can be sent any more; uvicorn logs it
            response = internal_error(Request(scope), exc)
            await response(scope, receive, send_with_headers)
