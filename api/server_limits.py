"""How the service is served: uvicorn settings that trust no proxy header and name no server, and a guard that
cuts clients too slow to send a request (IEC 62443-3-3 SR 7.1, denial of service protection).

uvicorn has a keep-alive timeout but none for a request's head or body, so a client that connects and sends
nothing, or half a header, or half a body, holds a connection and a file descriptor for ever. The guard puts a
deadline on each of those phases; connections beyond `max_connections` get uvicorn's 503.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.settings import ApiSettings

log = logging.getLogger(__name__)

try:  # the faster parser when it is there, as uvicorn's "auto" would choose
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _BaseProtocol
except ImportError:  # pragma: no cover - httptools is a dependency of uvicorn[standard]
    from uvicorn.protocols.http.h11_impl import H11Protocol as _BaseProtocol  # type: ignore[assignment]

Peer = tuple[str, int]


@dataclass(slots=True)
class _Connection:
    transport: asyncio.BaseTransport
    loop: asyncio.AbstractEventLoop
    deadline: float | None
    phase: str  # what the client is late with: "request head" or "request body"
    timer: asyncio.TimerHandle | None = None


@dataclass
class SlowClientGuard:
    """Deadlines per connection: the head within header_timeout_s of connect (or of the previous answer), the
    body within body_timeout_s of the application asking for it; none while the application works or answers."""

    header_timeout_s: float
    body_timeout_s: float
    cut: dict[str, int] = field(default_factory=lambda: {"request head": 0, "request body": 0})
    _open: dict[Peer, _Connection] = field(default_factory=dict)

    @property
    def open_connections(self) -> int:
        return len(self._open)

    def opened(self, transport: asyncio.BaseTransport) -> None:
        peer = _peer(transport.get_extra_info("peername"))
        if peer is None:
            return
        loop = asyncio.get_running_loop()
        conn = _Connection(transport, loop, None, "request head")
        self._open[peer] = conn
        self._set(conn, self.header_timeout_s, "request head")

    def closed(self, transport: asyncio.BaseTransport) -> None:
        peer = _peer(transport.get_extra_info("peername"))
        conn = self._open.pop(peer, None) if peer is not None else None
        if conn is not None and conn.timer is not None:
            conn.timer.cancel()

    def request_started(self, peer: Peer | None) -> None:
        self._update(peer, None, "")

    def body_wanted(self, peer: Peer | None) -> None:
        conn = self._open.get(peer) if peer is not None else None
        if conn is not None and conn.phase != "request body":
            self._set(conn, self.body_timeout_s, "request body")

    def body_received(self, peer: Peer | None) -> None:
        self._update(peer, None, "done")

    def response_sent(self, peer: Peer | None) -> None:
        self._update(peer, self.header_timeout_s, "request head")

    def _update(self, peer: Peer | None, timeout_s: float | None, phase: str) -> None:
        conn = self._open.get(peer) if peer is not None else None
        if conn is not None:
            self._set(conn, timeout_s, phase)

    def _set(self, conn: _Connection, timeout_s: float | None, phase: str) -> None:
        if conn.timer is not None:
            conn.timer.cancel()
            conn.timer = None
        conn.phase = phase
        conn.deadline = None if timeout_s is None else conn.loop.time() + timeout_s
        if timeout_s is not None:
            conn.timer = conn.loop.call_later(timeout_s, self._expire, conn)

    def _expire(self, conn: _Connection) -> None:
        conn.timer = None
        if conn.deadline is None or conn.transport.is_closing():
            return
        self.cut[conn.phase] = self.cut.get(conn.phase, 0) + 1
        peer = conn.transport.get_extra_info("peername")
        log.info("closed a connection from %s: no complete %s in time", _peer(peer) or "?", conn.phase)
        conn.transport.close()

    def asgi(self, app: ASGIApp) -> ASGIApp:
        """The application, telling the guard when a request starts, reads its body and is answered."""
        guard = self

        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            client = scope.get("client")
            peer: Peer | None = (str(client[0]), int(client[1])) if client else None
            if scope["type"] != "http":
                if scope["type"] == "websocket":  # an upgraded connection is not a request still arriving
                    guard.request_started(peer)
                await app(scope, receive, send)
                return
            guard.request_started(peer)

            body_done = False

            async def timed_receive() -> Message:
                nonlocal body_done
                if body_done:  # e.g. a streaming answer waiting for the client to go away: no deadline
                    return await receive()
                guard.body_wanted(peer)
                try:
                    message = await receive()
                except BaseException:  # cancelled (Request.is_disconnected): the app is not waiting any more
                    guard.body_received(peer)
                    raise
                if message["type"] != "http.request" or not message.get("more_body", False):
                    body_done = True
                    guard.body_received(peer)
                return message

            async def watched_send(message: Message) -> None:
                await send(message)
                if message["type"] == "http.response.body" and not message.get("more_body", False):
                    guard.response_sent(peer)

            await app(scope, timed_receive, watched_send)

        return guarded


def _peer(info: Any) -> Peer | None:
    if isinstance(info, tuple) and len(info) >= 2:
        return str(info[0]), int(info[1])
    return None


def guarded_protocol(guard: SlowClientGuard) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol, reporting each connection's opening and closing to the guard."""

    class GuardedHttpProtocol(_BaseProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            guard.opened(transport)

        def connection_lost(self, exc: Exception | None) -> None:
            guard.closed(self.transport)
            super().connection_lost(exc)

    return GuardedHttpProtocol


def uvicorn_config(app: ASGIApp, settings: ApiSettings, *, host: str, port: int, guard: SlowClientGuard | None = None,
                   **options: Any) -> uvicorn.Config:
    """The one way the service is served (plantctl run and the tests): proxy headers only through
    PLANTCTL_TRUSTED_PROXIES (api.proxy), no `server` banner, and every slow-client limit of the settings."""
    guard = guard or SlowClientGuard(settings.header_timeout_s, settings.body_timeout_s)
    state = getattr(app, "state", None)
    if state is not None:  # /metrics reports the guard's counts (api.routers.metrics)
        state.connection_guard = guard
    return uvicorn.Config(
        guard.asgi(app), host=host, port=port, http=guarded_protocol(guard), proxy_headers=False,
        server_header=False, timeout_keep_alive=settings.keepalive_timeout_s,
        limit_concurrency=settings.max_connections, **options)
