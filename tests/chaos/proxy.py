"""A loopback TCP fault proxy: stands between the service and one PLC server so one link can fail alone.

Runs its own asyncio loop in a daemon thread, so a test or a benchmark drives it with plain calls:

    proxy = FaultProxy(target_port=5020).start()     # listens on 127.0.0.1:proxy.port
    proxy.partition()      # every connection closed now, new ones refused (ECONNREFUSED)
    proxy.heal()           # listens again on the same port
    proxy.latency_s = 0.2  # each chunk is held this long, both ways
    proxy.blackhole = True # connections stay open, nothing passes (a silent link)
    proxy.stop()

Nothing here knows about plantctl; it binds 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from concurrent.futures import Future
from typing import Any

LOOPBACK = "127.0.0.1"


class FaultProxy:
    """One listening port forwarding to one target; faults are switched on and off from any thread."""

    def __init__(self, target_port: int, target_host: str = LOOPBACK, port: int = 0) -> None:
        if target_host != LOOPBACK:
            raise ValueError("the fault proxy forwards to loopback only")
        self.target = (target_host, target_port)
        self.port = port
        self.latency_s = 0.0
        self.blackhole = False
        self.connections_accepted = 0
        self.partitioned_at: float | None = None  # time.time() of the last partition
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    # -- control (any thread) -----------------------------------------------------------------
    def start(self) -> FaultProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def partition(self) -> float:
        """Close every connection and stop listening; returns the wall time (time.time) it completed."""
        self._call(self._partition())
        self.partitioned_at = time.time()
        return self.partitioned_at

    def heal(self) -> float:
        """Listen again on the same port; returns the wall time it is accepting again."""
        self._call(self._listen())
        return time.time()

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._partition())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def _call(self, coro: Any) -> Any:
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return fut.result(10)

    # -- loop side ------------------------------------------------------------------------------
    async def _listen(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._accept, LOOPBACK, self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _partition(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for w in list(self._writers):
            with contextlib.suppress(OSError):
                w.transport.abort()  # RST, as a cable pull noticed by the far end would look
        self._writers.clear()
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections_accepted += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer),
                             return_exceptions=True)
        for w in (writer, up_writer):
            self._writers.discard(w)
            w.transport.abort()

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        while True:
            chunk = await src.read(65536)
            if not chunk:
                dst.transport.abort()
                return
            if self.latency_s > 0:
                await asyncio.sleep(self.latency_s)
            if self.blackhole or dst not in self._writers:
                continue
            dst.write(chunk)
            await dst.drain()
