"""This site as a Sparkplug B edge node: births, NDATA by alias, rebirths, primary-host awareness, spool and replay.

Session rules (Sparkplug B 3.0): every MQTT session gets a new bdSeq (0–255, kept in the state dir);
the will is NDEATH with that bdSeq at QoS 1 and the NBIRTH repeats it; NBIRTH has seq 0 and NDATA
counts 1…255, 0, 1…; MQTT 5 clean start with session expiry 0. With a primary host configured the
node births only after the host's retained STATE says online, and on its STATE offline sends NDEATH
and starts a new session. Samples that cannot go out live (no broker, host offline, publish failed)
go to a durable spool and are replayed in order, flagged is_historical, once the node is born again.

The runtime calls ``submit`` inline with every batch: it only appends to a list, so site-local control
and alarms never wait on the uplink.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from connectors.sparkplug import codec
from plantctl.config.models import TagConfig
from plantctl.config.uplink import UplinkConfig, broker_address
from plantctl.durable import DurableQueue, QueueRecord
from plantctl.samples import Sample, utcnow

log = logging.getLogger(__name__)

REPLAY_RECORDS_PER_TICK = 20
MAX_PENDING_SAMPLES = 200_000  # above this the pending list goes to the spool at once (memory bound)


def env_secret(name: str | None, field: str) -> str | None:
    """The value of the environment variable a plant file names for a credential; an error if it is not set."""
    if name is None:
        return None
    value = os.environ.get(name)
    if value is None:
        raise ValueError(f"uplink.{field} names the environment variable {name}, which is not set")
    return value


@dataclass(frozen=True, slots=True)
class UplinkStatus:
    """What the status API shows of the uplink; times aware UTC."""

    connected: bool
    host_online: bool
    born: bool
    bd_seq: int
    last_birth: datetime | None
    births: int
    ndata_messages: int
    metrics_sent: int
    historical_sent: int
    spool_pending_rows: int
    spool_dropped_rows: int
    last_error: str | None


class SparkplugEdge:
    """One edge node for the whole plant: every tag a metric, alias = its position in the plant file."""

    def __init__(self, config: UplinkConfig, tags: Sequence[TagConfig], state_dir: Path) -> None:
        self.config = config
        self.defs = [codec.MetricDef(t.name, i + 1, t.unit, t.range.low, t.range.high, t.description)
                     for i, t in enumerate(tags)]
        self._alias = {d.name: d.alias for d in self.defs}
        self._last: dict[str, Sample] = {}
        self._pending: list[Sample] = []
        self._window: deque[tuple[float, list[Sample]]] = deque()  # (monotonic sent, batch) of recent live NDATA
        self._dir = state_dir / "uplink"
        self._dir.mkdir(parents=True, exist_ok=True)
        self._spool = DurableQueue(self._dir / "spool", config.spool_max_bytes)
        self._lock = asyncio.Lock()  # births and NDATA never interleave (seq order)
        self._client: aiomqtt.Client | None = None
        self._born = False
        self._host_online = config.primary_host_id is None
        self._host_ts = -1
        self._seq = 0
        self._bd_seq = self._read_bdseq()
        self._tasks: list[asyncio.Task[None]] = []
        self._last_birth: datetime | None = None
        self._births = 0
        self._ndata = 0
        self._metrics_sent = 0
        self._historical_sent = 0
        self._last_error: str | None = None
        self._group, self._node = config.group_id, config.edge_node_id
        self._credentials = (env_secret(config.username_env, "username_env"),
                             env_secret(config.password_env, "password_env"))

    # -- the runtime's side -----------------------------------------------------------------
    def submit(self, batch: list[Sample]) -> None:
        """Take a batch from the bus (inline, never blocks on the network)."""
        for s in batch:
            if s.tag in self._alias:
                self._last[s.tag] = s
                self._pending.append(s)
        if len(self._pending) > MAX_PENDING_SAMPLES:
            self._spool_pending()

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._connect_loop(), name="uplink-session"),
                       asyncio.create_task(self._pump_loop(), name="uplink-pump")]

    async def stop(self) -> None:
        """An intentional disconnect sends NDEATH first (Sparkplug: a clean DISCONNECT does not fire the will)."""
        client = self._client
        if client is not None and self._born:
            try:
                async with self._lock:
                    self._born = False
                    await asyncio.wait_for(client.publish(codec.topic(self._group, "NDEATH", self._node),
                                                          codec.death_payload(self._bd_seq, utcnow()), qos=1), 5)
            except (aiomqtt.MqttError, TimeoutError) as exc:
                log.warning("uplink: no NDEATH on stop (%s); the host sees the session end", exc)
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("uplink task %s ended with an error", t.get_name())
        self._tasks = []
        self._spool_pending()  # nothing lost on a stop: replayed as historical after the next start
        self._spool.close()

    def status(self) -> UplinkStatus:
        return UplinkStatus(
            connected=self._client is not None, host_online=self._host_online, born=self._born,
            bd_seq=self._bd_seq, last_birth=self._last_birth, births=self._births, ndata_messages=self._ndata,
            metrics_sent=self._metrics_sent, historical_sent=self._historical_sent,
            spool_pending_rows=self._spool.pending_rows, spool_dropped_rows=self._spool.counters.dropped_rows,
            last_error=self._last_error)

    # -- bdSeq ------------------------------------------------------------------------------
    def _read_bdseq(self) -> int:
        try:
            return int((self._dir / "bdseq").read_text().strip()) % 256
        except (OSError, ValueError):
            return 255  # the first session then uses 0

    def _next_bdseq(self) -> int:
        self._bd_seq = (self._bd_seq + 1) % 256
        (self._dir / "bdseq").write_text(f"{self._bd_seq}\n")
        return self._bd_seq

    # -- the MQTT session -------------------------------------------------------------------
    def _make_client(self, url: str, bd_seq: int) -> aiomqtt.Client:
        host, port, tls = broker_address(url)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho is untyped here
        props.SessionExpiryInterval = 0
        will = aiomqtt.Will(codec.topic(self._group, "NDEATH", self._node),
                            codec.death_payload(bd_seq, utcnow()), qos=1, retain=False)
        tls_context = ssl.create_default_context(cafile=self.config.ca_file) if tls else None
        return aiomqtt.Client(
            host, port, identifier=f"{self._group}.{self._node}", protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=True, properties=props, will=will, keepalive=self.config.keepalive_s,
            username=self._credentials[0], password=self._credentials[1],
            tls_context=tls_context, timeout=10)

    async def _connect_loop(self) -> None:
        attempt, delay = 0, 0.2
        while True:
            url = self.config.brokers[attempt % len(self.config.brokers)]
            bd_seq = self._next_bdseq()
            try:
                await self._session(self._make_client(url, bd_seq))
                delay = 0.2
            except aiomqtt.MqttError as exc:
                # NDATA goes at QoS 0: what the broker took in its last moments may never have reached the host
                # (a broker killed, or its link cut), so the last window is sent again as history, as on a
                # host's death; the central (tag, time) key stores each value once
                self._spool_window()
                if self._last_error != str(exc):
                    log.warning("uplink to %s: %s; spooling, retrying", url, exc)
                self._last_error = f"{url}: {exc}"
                attempt += 1
            finally:
                self._client, self._born = None, False
                self._host_online = self.config.primary_host_id is None
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.config.reconnect_max_delay_s)

    async def _session(self, client: aiomqtt.Client) -> None:
        async with client:
            self._client = client
            self._last_error = None
            await client.subscribe(codec.topic(self._group, "NCMD", self._node), qos=1)
            if self.config.primary_host_id is not None:
                await client.subscribe(codec.state_topic(self.config.primary_host_id), qos=1)
            else:
                await self._birth(client)
            async for message in client.messages:
                name = str(message.topic)
                payload = message.payload if isinstance(message.payload, bytes) else b""
                if name.startswith(f"{codec.NAMESPACE}/STATE/"):
                    if not await self._on_state(client, payload):
                        return  # host went offline: NDEATH sent, a new session waits for it
                else:
                    await self._on_command(client, payload)

    async def _on_state(self, client: aiomqtt.Client, payload: bytes) -> bool:
        """Follow the primary host; False when it went offline and this session must end."""
        try:
            online, ts = codec.parse_state(payload)
        except codec.MalformedPayload as exc:
            log.warning("uplink: ignoring a STATE message: %s", exc)
            return True
        if ts < self._host_ts:
            return True  # an older STATE than one already seen (the spec orders them by timestamp)
        self._host_ts = ts
        if online and not self._born:
            self._host_online = True
            await self._birth(client)
        elif not online:
            self._host_online = False
            if self._born:
                log.warning("uplink: primary host %s offline; NDEATH, spooling until it returns",
                            self.config.primary_host_id)
                async with self._lock:  # no NDATA in flight: one sent now would miss the window
                    self._spool_window()
                    self._born = False
                    await client.publish(codec.topic(self._group, "NDEATH", self._node),
                                         codec.death_payload(self._bd_seq, utcnow()), qos=1)
                return False
        return True

    async def _on_command(self, client: aiomqtt.Client, payload: bytes) -> None:
        try:
            decoded = codec.decode(payload)
        except codec.MalformedPayload as exc:
            log.warning("uplink: dropped a malformed NCMD: %s", exc)
            return
        if any(m.name == codec.REBIRTH and m.value == 1.0 for m in decoded.metrics) and self._host_online:
            log.info("uplink: rebirth requested")
            await self._birth(client)

    async def _birth(self, client: aiomqtt.Client) -> None:
        async with self._lock:
            now = utcnow()
            await client.publish(codec.topic(self._group, "NBIRTH", self._node),
                                 codec.birth_payload(self.defs, self._last, self._bd_seq, now), qos=0)
            self._seq, self._born = 0, True
            self._last_birth, self._births = now, self._births + 1
        log.info("uplink: NBIRTH %s/%s bdSeq %d, %d metrics", self._group, self._node, self._bd_seq, len(self.defs))

    # -- NDATA and the spool ----------------------------------------------------------------
    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) % 256
        return self._seq

    def _spool_window(self) -> None:
        """What went live in the last replay_window_s goes to the spool, so the returning host gets it again."""
        window = [s for _, batch in self._window for s in batch]
        self._window.clear()
        if window:
            self._pending = window + self._pending
            self._spool_pending()

    def _spool_pending(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        step = self.config.max_metrics_per_message
        self._spool.append_many([
            (codec.data_payload(0, [(s.tag, s) for s in batch[i:i + step]], utcnow()), len(batch[i:i + step]))
            for i in range(0, len(batch), step)])

    async def _pump_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.publish_period_s)
            client = self._client
            if client is None or not self._born:
                self._spool_pending()
                continue
            try:
                await self._publish_live(client)
                await self._replay(client)
            except aiomqtt.MqttError as exc:
                log.warning("uplink: publish failed (%s); spooling", exc)

    async def _publish_live(self, client: aiomqtt.Client) -> None:
        batch, self._pending = self._pending, []
        step = self.config.max_metrics_per_message
        for i in range(0, len(batch), step):
            chunk = batch[i:i + step]
            try:
                await self._publish_data(client, [(self._alias[s.tag], s) for s in chunk], historical=False)
            except aiomqtt.MqttError:
                self._pending = batch[i:] + self._pending
                self._spool_pending()
                raise
            if self.config.replay_window_s > 0 and self.config.primary_host_id is not None:
                self._window.append((time.monotonic(), chunk))
        horizon = time.monotonic() - self.config.replay_window_s
        while self._window and self._window[0][0] < horizon:
            self._window.popleft()

    async def _publish_data(self, client: aiomqtt.Client, items: list[tuple[int | str, Sample]], *,
                            historical: bool) -> None:
        async with self._lock:
            if not self._born:
                raise aiomqtt.MqttError("node is not born (host offline or session ended)")
            await client.publish(codec.topic(self._group, "NDATA", self._node),
                                 codec.data_payload(self._next_seq(), items, utcnow(), historical=historical), qos=0)
            self._ndata += 1
            self._metrics_sent += len(items)
            if historical:
                self._historical_sent += len(items)

    async def _replay(self, client: aiomqtt.Client) -> None:
        """Send a bounded slice of the spool, oldest first, as historical NDATA (live data goes first each tick)."""
        records: list[QueueRecord] = self._spool.peek_many(REPLAY_RECORDS_PER_TICK, 10 ** 9)
        for record in records:
            items: list[tuple[int | str, Sample]] = []
            for m in codec.decode(record.payload).metrics:
                alias = self._alias.get(m.name or "")
                if alias is None:
                    continue  # a tag removed from the plant file since it was spooled
                items.append((alias, Sample(m.name or "", m.ts, m.value, m.quality, m.reason)))
            if items:
                await self._publish_data(client, items, historical=True)
                if self.config.replay_window_s > 0 and self.config.primary_host_id is not None:
                    # a replayed record is gone from the spool once sent: kept in the window like live data, so a
                    # host or broker lost right after it gets it once more (the host drops NDATA of a node it has
                    # not seen born, and QoS 0 in the broker dies with it)
                    self._window.append((time.monotonic(), [s for _, s in items]))
            self._spool.commit(record)
