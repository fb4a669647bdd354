"""The central side: a Sparkplug B primary host that learns every site's tags from births and feeds plantctl.

Rules (Sparkplug B 3.0 host application): a retained STATE online, its will a retained STATE offline
with the same timestamp; a persistent MQTT session (clean start off, session expiry) so the broker
queues what sites publish while the host is down; tags come from NBIRTH (no hand-written list),
named ``<group>/<node>/<tag>``, filtered by an optional allow/deny list of fnmatch patterns; each
NDATA's seq must follow the last (0–255): a gap, an NDATA from a node not born in this session or
an unknown alias asks that node for a rebirth (the only command this host ever sends); NDEATH with
the birth's bdSeq, or the host's own session loss, turns every tag of the node Bad "site offline"
once. Metrics flagged is_historical go to history only, never to live values or alarms.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import math
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import aiomqtt
import numpy as np
import numpy.typing as npt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from connectors.sparkplug import codec
from connectors.sparkplug.columns import DataColumns, decode_columns
from plantctl.quality import Quality, quality_from_code
from plantctl.samples import Sample, utcnow

log = logging.getLogger(__name__)

SITE_OFFLINE = "site offline"
REBIRTH_MIN_INTERVAL_S = 2.0  # one rebirth request per node per this, however many gaps arrive
RATE_WINDOW_S = 10.0  # message and value rates shown per node are over this window


@dataclass(frozen=True, slots=True)
class DiscoveredTag:
    """A site's tag as its NBIRTH describes it, under its fleet-wide name."""

    name: str
    unit: str
    low: float
    high: float
    description: str


class HostSink(Protocol):
    """Where the host delivers: tag metadata to register, live samples (live, alarms, history), history only."""

    def tags_born(self, tags: list[DiscoveredTag]) -> None: ...

    def live(self, samples: list[Sample]) -> None: ...

    def history(self, samples: list[Sample]) -> None: ...


class AliasTable:
    """A birth's aliases as arrays, so an NDATA's alias column maps to fleet names without a lookup per metric."""

    def __init__(self, aliases: dict[int, str], declared: set[int]) -> None:
        self.fleet = list(aliases.values())
        size = max(declared, default=-1) + 1
        self.index = np.full(size, -1, np.int64)  # alias → position in fleet; -2: declared, filtered out
        if declared:
            self.index[np.fromiter(declared, np.int64, len(declared))] = -2
        for k, alias in enumerate(aliases):
            self.index[alias] = k

    def lookup(self, alias: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Position in ``fleet`` per alias; -2 declared but not wanted; -1 never declared (or no alias)."""
        inside = (alias >= 0) & (alias < len(self.index))
        return np.where(inside, self.index[np.where(inside, alias, 0)], -1)


@dataclass
class NodeState:
    """What the host knows of one edge node; times aware UTC."""

    group: str
    node: str
    online: bool = False
    bd_seq: int | None = None
    seq: int | None = None
    aliases: dict[int, str] = field(default_factory=dict)  # alias → fleet tag name
    names: dict[str, str] = field(default_factory=dict)  # site tag name → fleet tag name
    declared: set[int] = field(default_factory=set)  # every alias the birth declared, kept by allow/deny or not
    by_alias: AliasTable = field(default_factory=lambda: AliasTable({}, set()))
    last_birth: datetime | None = None
    since: datetime | None = None  # when it last went online (birth) or offline (death, session loss)
    last_data: datetime | None = None
    last_sample_ts: datetime | None = None
    historical_values: int = 0
    live_values: int = 0
    births: int = 0
    deaths: int = 0
    seq_gaps: int = 0
    rebirths_requested: int = 0
    last_rebirth_request: float = -math.inf
    recent: deque[tuple[float, int, int]] = field(default_factory=deque)  # (monotonic, live, historical) per NDATA

    def note_data(self, live: int, historical: int) -> None:
        self.recent.append((time.monotonic(), live, historical))
        self.rates()  # drops what left the window, so the deque stays one window long

    def rates(self) -> tuple[float, float, float]:
        """NDATA messages, live values and historical values per second over the last RATE_WINDOW_S."""
        now = time.monotonic()
        while self.recent and self.recent[0][0] < now - RATE_WINDOW_S:
            self.recent.popleft()
        return (len(self.recent) / RATE_WINDOW_S, sum(r[1] for r in self.recent) / RATE_WINDOW_S,
                sum(r[2] for r in self.recent) / RATE_WINDOW_S)


@dataclass
class HostCounters:
    messages: int = 0
    malformed: int = 0
    ignored: int = 0
    rebirths_requested: int = 0


class SparkplugHost:
    """One primary host application over one broker URL list; start() returns at once."""

    def __init__(self, host_id: str, groups: Sequence[str], brokers: Sequence[tuple[str, int]], sink: HostSink, *,
                 allow: Sequence[str] = ("*",), deny: Sequence[str] = (), keepalive_s: int = 10,
                 session_expiry_s: int = 3600, username: str | None = None, password: str | None = None) -> None:
        self.host_id = host_id
        self.groups = list(groups)
        self.brokers = list(brokers)
        self.sink = sink
        self.allow, self.deny = list(allow), list(deny)
        self.keepalive_s = keepalive_s
        self.session_expiry_s = session_expiry_s
        self._username, self._password = username, password
        self.nodes: dict[tuple[str, str], NodeState] = {}
        self.counters = HostCounters()
        self.connected = False
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending_commands: list[tuple[str, bytes]] = []

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"sparkplug-host-{self.host_id}")

    async def stop(self) -> None:
        """A clean stop says STATE offline itself (a clean DISCONNECT does not fire the will)."""
        client = self._client
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await client.publish(codec.state_topic(self.host_id), codec.state_payload(False, utcnow()),
                                     qos=1, retain=True)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wanted(self, fleet_name: str) -> bool:
        """The allow/deny list: a tag is kept when some allow pattern matches and no deny pattern does."""
        return any(fnmatch.fnmatchcase(fleet_name, p) for p in self.allow) and \
            not any(fnmatch.fnmatchcase(fleet_name, p) for p in self.deny)

    # -- the session ------------------------------------------------------------------------
    async def _run(self) -> None:
        attempt, delay = 0, 0.2
        while True:
            host, port = self.brokers[attempt % len(self.brokers)]
            online_ts = utcnow()
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho is untyped here
            props.SessionExpiryInterval = self.session_expiry_s
            will = aiomqtt.Will(codec.state_topic(self.host_id), codec.state_payload(False, online_ts),
                                qos=1, retain=True)
            client = aiomqtt.Client(host, port, identifier=f"plantctl-host-{self.host_id}",
                                    protocol=aiomqtt.ProtocolVersion.V5, clean_start=False, properties=props,
                                    will=will, keepalive=self.keepalive_s, username=self._username,
                                    password=self._password, timeout=10)
            try:
                async with client:
                    self._client, self.connected = client, True
                    for group in self.groups:
                        await client.subscribe(f"{codec.NAMESPACE}/{group}/+/+", qos=1)
                    await client.publish(codec.state_topic(self.host_id), codec.state_payload(True, online_ts),
                                         qos=1, retain=True)
                    delay = 0.2
                    async for message in client.messages:
                        payload = message.payload if isinstance(message.payload, bytes) else b""
                        self.handle(str(message.topic), payload)
                        await self._flush_commands(client)
            except aiomqtt.MqttError as exc:
                log.warning("sparkplug host %s: broker %s:%d: %s; reconnecting", self.host_id, host, port, exc)
                attempt += 1
            finally:
                self._client, self.connected = None, False
                self.session_lost()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def _flush_commands(self, client: aiomqtt.Client) -> None:
        commands, self._pending_commands = self._pending_commands, []
        for topic, payload in commands:
            await client.publish(topic, payload, qos=0)

    # -- message handling (no I/O: commands are queued, delivery goes to the sink) ----------
    def handle(self, topic: str, payload: bytes) -> None:
        """One message from the broker; malformed ones are counted, logged and dropped."""
        self.counters.messages += 1
        parts = topic.split("/")
        if len(parts) != 4 or parts[0] != codec.NAMESPACE:
            self.counters.ignored += 1
            return
        _, group, kind, node = parts
        if kind not in ("NBIRTH", "NDATA", "NDEATH"):
            self.counters.ignored += 1  # device-level messages, our own NCMD, STATE of other hosts
            return
        try:
            if kind == "NDATA":  # the bulk of the traffic: columns, no object per metric until the sink
                columns = decode_columns(payload)
            else:
                decoded = codec.decode(payload)
        except codec.MalformedPayload as exc:
            self.counters.malformed += 1
            log.warning("sparkplug host: dropped a malformed %s from %s/%s: %s", kind, group, node, exc)
            return
        state = self.nodes.setdefault((group, node), NodeState(group, node))
        if kind == "NBIRTH":
            self._on_birth(state, decoded)
        elif kind == "NDATA":
            self._on_data(state, columns)
        else:
            self._on_death(state, decoded)

    def _on_birth(self, state: NodeState, p: codec.DecodedPayload) -> None:
        tags: list[DiscoveredTag] = []
        values: list[Sample] = []
        state.aliases, state.names, state.declared = {}, {}, set()
        bd_seq: int | None = None
        for m in p.metrics:
            if m.name == codec.BD_SEQ:
                bd_seq = int(m.value) if not math.isnan(m.value) else None
                continue
            if m.name is None or m.name.startswith("Node Control/") or m.name.startswith("Properties/"):
                continue
            if m.alias is not None:
                state.declared.add(m.alias)
            fleet = f"{state.group}/{state.node}/{m.name}"
            if not self.wanted(fleet):
                continue
            state.names[m.name] = fleet
            if m.alias is not None:
                state.aliases[m.alias] = fleet
            props = m.properties
            tags.append(DiscoveredTag(fleet, str(props.get("engUnit") or ""), _num(props.get("engLow"), -math.inf),
                                      _num(props.get("engHigh"), math.inf), str(props.get("Documentation") or "")))
            if not (math.isnan(m.value) and m.quality == Quality.BAD_NOT_CONNECTED):
                values.append(Sample(fleet, m.ts, m.value, m.quality, m.reason))
        if p.seq not in (0, None):
            log.warning("sparkplug host: NBIRTH of %s/%s has seq %s, not 0", state.group, state.node, p.seq)
        state.by_alias = AliasTable(state.aliases, state.declared)
        if not state.online:
            state.since = utcnow()
        state.online, state.bd_seq, state.seq = True, bd_seq, 0
        state.last_birth, state.births = utcnow(), state.births + 1
        log.info("sparkplug host: %s/%s born (bdSeq %s, %d tags)", state.group, state.node, bd_seq, len(tags))
        self.sink.tags_born(tags)
        if values:
            self.sink.live(values)

    def _on_data(self, state: NodeState, p: DataColumns) -> None:
        if not state.online:
            self._request_rebirth(state, "NDATA from a node not born in this session")
            return
        expected = ((state.seq or 0) + 1) % 256
        if p.seq is None or p.seq != expected:
            state.seq_gaps += 1
            self._request_rebirth(state, f"seq {p.seq} where {expected} was due")
        state.seq = p.seq
        position = state.by_alias.lookup(p.alias)
        fleet_names = list(state.by_alias.fleet) if p.names else state.by_alias.fleet
        for row, name in p.names.items():  # metrics by name (other implementations, our spool replays)
            if p.alias[row] < 0:
                fleet = state.names.get(name)
                if fleet is None:
                    position[row] = -2  # a name its birth did not give (or a filtered one): dropped, as before
                else:
                    position[row] = len(fleet_names)
                    fleet_names.append(fleet)
            elif position[row] == -1 and name in state.names:
                position[row] = -2  # an undeclared alias with a known name: dropped, not a reason for a rebirth
        unknown = int((position == -1).sum())
        if unknown:
            self._request_rebirth(state, f"{unknown} metrics with an alias its birth did not declare")
        kept = np.flatnonzero(position >= 0)
        live = _samples(p, kept[~p.historical[kept]], position, fleet_names)
        history = _samples(p, kept[p.historical[kept]], position, fleet_names)
        state.last_data = utcnow()
        state.note_data(len(live), len(history))
        state.historical_values += len(history)
        state.live_values += len(live)
        if live:
            state.last_sample_ts = codec.from_ms(int(p.ts_ms[kept[~p.historical[kept]]].max()))
            self.sink.live(live)
        if history:
            self.sink.history(history)

    def _on_death(self, state: NodeState, p: codec.DecodedPayload) -> None:
        bd_seq = next((int(m.value) for m in p.metrics if m.name == codec.BD_SEQ and not math.isnan(m.value)), None)
        if state.online and state.bd_seq is not None and bd_seq is not None and bd_seq != state.bd_seq:
            log.info("sparkplug host: ignoring a stale NDEATH of %s/%s (bdSeq %s, born with %s)",
                     state.group, state.node, bd_seq, state.bd_seq)
            return
        state.deaths += 1
        self._mark_offline(state)

    def session_lost(self) -> None:
        """The host's own link is gone: it can vouch for no site, so every online node goes Bad once."""
        for state in self.nodes.values():
            self._mark_offline(state)

    def _mark_offline(self, state: NodeState) -> None:
        if not state.online:
            return  # Bad once, not again for each repeat
        state.online, state.seq = False, None
        now = utcnow()
        state.since = now
        bad = [Sample(fleet, now, math.nan, Quality.BAD_NOT_CONNECTED, SITE_OFFLINE) for fleet in state.names.values()]
        log.warning("sparkplug host: %s/%s offline; %d tags Bad", state.group, state.node, len(bad))
        if bad:
            self.sink.live(bad)

    def _request_rebirth(self, state: NodeState, why: str) -> None:
        now = time.monotonic()
        if now - state.last_rebirth_request < REBIRTH_MIN_INTERVAL_S:
            return
        state.last_rebirth_request = now
        state.rebirths_requested += 1
        self.counters.rebirths_requested += 1
        log.warning("sparkplug host: asking %s/%s for a rebirth: %s", state.group, state.node, why)
        self._pending_commands.append((codec.topic(state.group, "NCMD", state.node), codec.rebirth_command(utcnow())))


_QUALITIES = [quality_from_code(code) for code in range(256)]


def _samples(p: DataColumns, rows: npt.NDArray[np.int64], position: npt.NDArray[np.int64],
             fleet: list[str]) -> list[Sample]:
    """Samples of the given rows: one datetime per distinct time stamp and one Quality per code, not per metric."""
    if len(rows) == 0:
        return []
    stamps, which = np.unique(p.ts_ms[rows], return_inverse=True)
    times = [codec.from_ms(int(ms)) for ms in stamps.tolist()]
    reasons = p.reasons
    return [Sample(fleet[pos], times[t], value, _QUALITIES[q], reasons.get(row, "") if reasons else "")
            for row, pos, t, value, q in zip(rows.tolist(), position[rows].tolist(), which.tolist(),
                                             p.value[rows].tolist(), p.quality[rows].tolist(), strict=True)]


def _num(value: object, default: float) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default
