"""The journal writer across a real network outage to the database: the batch is kept and written once it is back.

The outage is a loopback TCP proxy in front of the real test server that drops every connection and
refuses new ones, as a failed link or a restarting server does; the server itself keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from plantctl.alarms.engine import AlarmEngine
from plantctl.alarms.journal import AlarmJournal
from plantctl.samples import Sample

from .recorded import alarm, at

pytestmark = [pytest.mark.anyio, pytest.mark.db]


class LinkToDatabase:
    """A TCP relay on 127.0.0.1 that can be cut (drops all connections, refuses new ones) and restored."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for w in list(self._writers):
            w.transport.abort()
        await self._server.wait_closed()
        self._server = None

    async def close(self) -> None:
        if self._server is not None:
            await self.cut()
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await t

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.transport.abort()
                self._writers.discard(dst)

        for t in (asyncio.create_task(pipe(reader, up_writer)), asyncio.create_task(pipe(up_reader, writer))):
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)


def _via(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@127.0.0.1:{port}"))


async def test_transitions_during_an_outage_are_written_after_it(alarm_db: str) -> None:
    target = urlsplit(alarm_db)
    link = LinkToDatabase(target.hostname or "127.0.0.1", target.port or 5432)
    await link.up()
    journal = AlarmJournal(_via(alarm_db, link.port), batch_max_age_s=0.05, retry_max_delay_s=0.2,
                           connect_timeout_s=2)
    await journal.start()
    try:
        engine = AlarmEngine([alarm(name="T.H", tag="T", type="H", limit=10.0)], sink=journal.submit)
        engine.process([Sample("T", at(0), 20.0)], at(0))
        await journal.flush()

        await link.cut()  # the link to the database fails
        for k in range(1, 21):
            engine.process([Sample("T", at(k), 20.0 if k % 2 == 0 else 0.0)], at(k))
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.5)
        assert journal.stats.failures >= 1 and journal.queued == 20

        await link.up()  # back, on the same port
        await journal.flush(30)
    finally:
        await journal.stop(2)
        await link.close()
    with psycopg.connect(alarm_db) as conn:
        assert conn.execute("SELECT count(*) FROM alarm_journal").fetchone() == (21,)
    assert journal.stats.dropped == 0 and journal.stats.written == 21
