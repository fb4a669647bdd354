"""A plain MQTT client on the test broker that records every Sparkplug message and can speak as the host."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import aiomqtt

from connectors.sparkplug import codec


@dataclass
class Seen:
    topic: str
    payload: bytes
    retain: bool

    @property
    def kind(self) -> str:
        return self.topic.split("/")[2]

    def decoded(self) -> codec.DecodedPayload:
        return codec.decode(self.payload)


class Recorder:
    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.seen: list[Seen] = []
        self._changed = asyncio.Event()

    async def _run(self) -> None:
        async for m in self.client.messages:
            payload = m.payload if isinstance(m.payload, bytes) else b""
            self.seen.append(Seen(str(m.topic), payload, m.retain))
            self._changed.set()

    async def wait_for(self, predicate: Callable[[list[Seen]], bool], within: float = 10.0) -> None:
        async def loop() -> None:
            while not predicate(self.seen):
                self._changed.clear()
                await self._changed.wait()
        try:
            await asyncio.wait_for(loop(), within)
        except TimeoutError:
            raise AssertionError(f"not seen within {within} s; saw {[(s.topic) for s in self.seen][-20:]}") \
                from None

    def of(self, kind: str) -> list[Seen]:
        return [s for s in self.seen if s.kind == kind]

    async def state(self, host_id: str, online: bool, ts: datetime | None = None) -> None:
        await self.client.publish(codec.state_topic(host_id), codec.state_payload(online, ts or datetime.now(UTC)),
                                  qos=1, retain=True)


@contextlib.asynccontextmanager
async def recording(port: int, topic: str = "spBv1.0/#") -> AsyncIterator[Recorder]:
    async with aiomqtt.Client("127.0.0.1", port, identifier="test-recorder") as client:
        await client.subscribe(topic, qos=1)
        rec = Recorder(client)
        task = asyncio.create_task(rec._run())
        try:
            yield rec
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await task
