"""OPC UA source: subscriptions (iterator mode) or polling per tag, over one or several sessions."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from asyncua import ua
from asyncua.client.client import Client
from asyncua.client.ua_client import UaClientState
from asyncua.common.node import Node
from asyncua.common.subscription import DataChangeEvent, OverflowPolicy, StatusChangeEvent
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.uaerrors import UaError, UaStatusCodeError

from connectors.base import Emit, SourceHealth, refuse_locally
from connectors.opcua.config import OpcUaAcquisition, OpcUaAddress, OpcUaSourceConfig, TimestampPolicy, opcua_address
from connectors.opcua.quality import map_status, status_name
from connectors.opcua.security import SecuritySetupError, secure_client
from connectors.rangecheck import judge
from connectors.supervisor import Supervisor, WriteFn, WriteProgress
from connectors.timing import every
from plantctl.config.models import TagConfig
from plantctl.quality import Quality
from plantctl.samples import Sample, utcnow
from plantctl.writes import WriteOutcome

_log = logging.getLogger(__name__)

CHUNK = 1000  # items per CreateMonitoredItems / Read request, well under common server limits
_INTEGER_TYPES = {
    ua.VariantType.SByte,
    ua.VariantType.Byte,
    ua.VariantType.Int16,
    ua.VariantType.UInt16,
    ua.VariantType.Int32,
    ua.VariantType.UInt32,
    ua.VariantType.Int64,
    ua.VariantType.UInt64,
}
# OPC UA Part 4 §7.39 / Part 6: statuses that say the link (channel, session, transport) failed, not the device.
_LINK_STATUSES = frozenset({
    "BadConnectionClosed", "BadSecureChannelClosed", "BadSecureChannelIdInvalid", "BadSessionClosed",
    "BadSessionIdInvalid", "BadSessionNotActivated", "BadNotConnected", "BadServerNotConnected",
    "BadCommunicationError", "BadNoCommunication", "BadServerHalted", "BadShutdown", "BadTcpInternalError",
    "BadDisconnect",
})
_TIMEOUT_STATUSES = frozenset({"BadTimeout", "BadRequestTimeout"})


class LinkLost(Exception):
    """The session's connection is gone; its tags turn Bad and the session reconnects."""


@dataclass
class _Session:
    index: int
    subscribed: list[TagConfig] = field(default_factory=list)
    polled: list[TagConfig] = field(default_factory=list)
    client: Client | None = None
    lost: asyncio.Event | None = None

    @property
    def tags(self) -> list[TagConfig]:
        return self.subscribed + self.polled


def _aware(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)  # UA DateTime is UTC


def sample_from(tag: str, dv: ua.DataValue, policy: TimestampPolicy = TimestampPolicy.SOURCE) -> Sample:
    """One sample from a DataValue: our quality from its status, the timestamp the source's policy trusts, a float."""
    code = dv.StatusCode.value if dv.StatusCode is not None else 0
    quality, reason = map_status(code)
    received = utcnow()
    if policy is TimestampPolicy.RECEIPT:
        ts = received
    elif policy is TimestampPolicy.SERVER:
        ts = _aware(dv.ServerTimestamp) or received
    else:
        ts = _aware(dv.SourceTimestamp) or _aware(dv.ServerTimestamp) or received
    raw: Any = dv.Value.Value if dv.Value is not None else None
    if isinstance(raw, bool | int | float):
        value = float(raw)
    else:
        value = math.nan
        if not quality.is_bad:
            quality = Quality.BAD_CONFIG_ERROR
            kind = "no value" if raw is None else f"a {type(raw).__name__}"
            reason = f"the node holds {kind}, not a number"
    return Sample(tag, ts, value, quality, reason, received)


def range_checked(tag: TagConfig, sample: Sample) -> Sample:
    """A Good value outside the tag's range is downgraded with its reason (connectors.rangecheck)."""
    if not sample.quality.is_good:
        return sample
    quality, reason = judge(tag, sample.value)
    if quality.is_good:
        return sample
    return Sample(sample.tag, sample.ts, sample.value, quality, reason, sample.received)


async def read_values(client: Client, node_ids: list[ua.NodeId]) -> list[ua.DataValue]:
    """Read the nodes' values with both timestamps (asyncua's read_attributes asks for the source's only, so a
    server that honours TimestampsToReturn would leave `timestamp: server` nothing to use)."""
    params = ua.ReadParameters()
    params.TimestampsToReturn = ua.TimestampsToReturn.Both
    params.NodesToRead = [ua.ReadValueId(NodeId=n, AttributeId=AttributeIds.Value) for n in node_ids]
    result: list[ua.DataValue] = await client.uaclient.read(params)
    return result


def _read_key(chunk: list[TagConfig]) -> str:
    """Names one batch Read in the health bookkeeping: its failure clears only when it answers again."""
    return f"Read of {chunk[0].name}… ({len(chunk)} nodes)"


def _deadband_filter(deadband: float) -> ua.DataChangeFilter | None:
    """OPC UA Part 4 §7.22.2: absolute deadband on the value, notify on status or value change."""
    if deadband <= 0:
        return None
    f = ua.DataChangeFilter()
    f.Trigger = ua.DataChangeTrigger.StatusValue
    f.DeadbandType = ua.DeadbandType.Absolute
    f.DeadbandValue = deadband
    return f


def _coerce(value: float, vtype: ua.VariantType) -> Any:
    """The engineering value as the node's own type (UA writes are type-strict, Part 4 §5.10.4)."""
    if vtype is ua.VariantType.Boolean:
        return bool(value)
    if vtype in _INTEGER_TYPES:
        return round(value)
    return float(value)


class OpcUaSource:
    """Tags of one OPC UA server, spread round-robin over `sessions` client connections."""

    def __init__(self, config: OpcUaSourceConfig, tags: list[TagConfig], emit: Emit) -> None:
        self._cfg = config
        self._emit = emit
        self._tags = {t.name: t for t in tags if isinstance(t.address, OpcUaAddress)}
        self._sessions = [_Session(i) for i in range(config.sessions)]
        self._session_of: dict[str, _Session] = {}
        for i, tag in enumerate(self._tags.values()):
            session = self._sessions[i % config.sessions]
            if opcua_address(tag).acquisition is OpcUaAcquisition.SUBSCRIBE:
                session.subscribed.append(tag)
            else:
                session.polled.append(tag)
            self._session_of[tag.name] = session
        self._supervisor = Supervisor(config, self._queue_batch, _log)
        self._health = self._supervisor.health
        self._health.request_plan_size = sum(
            len(_by_period(s.subscribed)) + len(_by_period(s.polled)) for s in self._sessions
        )
        self._variant_types: dict[str, ua.VariantType] = {}
        self._pending: list[Sample] = []
        self._flush_scheduled = False
        self._last_polled: dict[str, tuple[float, Quality, str]] = {}
        self._node_ids: dict[str, str] = {}  # tag → ns=<index> node id, nsu= ids resolved at every connect

    @property
    def name(self) -> str:
        return self._cfg.name

    @property
    def supervisor(self) -> Supervisor:
        """Connection, availability, heartbeat and the write path (route heartbeat_write here)."""
        return self._supervisor

    def route_heartbeat(self, write: WriteFn) -> None:
        self._supervisor.heartbeat_write = write

    async def start(self) -> None:
        self._supervisor.start([_SessionLink(self, s) for s in self._sessions], self.write)

    async def stop(self) -> None:
        await self._supervisor.stop()
        self._flush()

    def health(self) -> SourceHealth:
        return self._supervisor.snapshot()

    # --- connection -------------------------------------------------------------------------

    async def _connect(self, client: Client) -> None:
        await secure_client(client, self._cfg)
        await client.connect()

    def _describe_failure(self, exc: BaseException) -> str:
        where = self._cfg.endpoint
        if isinstance(exc, SecuritySetupError):
            return str(exc)
        if isinstance(exc, TimeoutError):
            return f"no session with {where} within {self._cfg.connect_timeout_s:g} s"
        if isinstance(exc, UaStatusCodeError):
            name = status_name(exc.code)
            if name in ("BadUserAccessDenied", "BadIdentityTokenRejected", "BadIdentityTokenInvalid"):
                return f"server {where} rejected the user name or password ({name})"
            if name.startswith("BadCertificate") or name.startswith("BadSecurity"):
                return f"server {where} refused our certificate or security settings ({name})"
            return f"server {where} answered {name}"
        return f"cannot connect to {where}: {exc or type(exc).__name__}"

    async def _open(self, session: _Session) -> None:
        """Open one session, or raise (the supervisor reports it and retries)."""
        client = Client(self._cfg.endpoint, timeout=self._cfg.connect_timeout_s,
                        watchdog_intervall=self._cfg.link_check_s)
        lost = asyncio.Event()

        async def on_lost(_exc: Exception, lost: asyncio.Event = lost) -> None:
            lost.set()

        client.connection_lost_callback = on_lost
        try:
            await asyncio.wait_for(self._connect(client), self._cfg.connect_timeout_s)
            await self._resolve_namespaces(client, session.tags)
        except Exception:
            await self._discard(client)
            raise
        session.client, session.lost = client, lost

    async def _resolve_namespaces(self, client: Client, tags: list[TagConfig]) -> None:
        """nsu= node ids to the namespace index the server uses now (it changes when a PLC project is re-downloaded)."""
        wanted = [t for t in tags if opcua_address(t).namespace_uri is not None]
        if not wanted:
            return
        namespaces: list[str] = list(await client.get_namespace_array())
        for tag in wanted:
            addr = opcua_address(tag)
            uri = addr.namespace_uri
            if uri not in namespaces:
                raise SecuritySetupError(
                    f"tag {tag.name}: namespace {uri!r} is not on {self._cfg.endpoint}; "
                    f"the server offers {', '.join(namespaces)}")
            identifier = addr.node_id.split(";", 1)[1]
            self._node_ids[tag.name] = f"ns={namespaces.index(uri)};{identifier}"

    def _node_id(self, tag: TagConfig) -> str:
        """The node id to send: the configured one, or its nsu= resolved at the last connect."""
        return self._node_ids.get(tag.name, opcua_address(tag).node_id)

    async def _close(self, session: _Session) -> None:
        client, session.client = session.client, None
        if client is not None:
            await self._discard(client)
        for tag in session.tags:
            self._last_polled.pop(tag.name, None)

    async def _acquire(self, session: _Session, client: Client, lost: asyncio.Event) -> str:
        """Run the session's subscriptions and polls until the link fails; say why it failed."""
        reason = "acquisition ended"
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._watch(lost))
                for period, tags in _by_period(session.subscribed).items():
                    group.create_task(self._subscribe(client, period, tags))
                for period, tags in _by_period(session.polled).items():
                    group.create_task(every(period, functools.partial(self._poll, client, tags)))
        except* LinkLost as eg:
            reason = str(eg.exceptions[0])
        except* (OSError, ConnectionError, TimeoutError, UaError) as eg:
            reason = f"connection to {self._cfg.endpoint} failed: {eg.exceptions[0]!r}"
        except* Exception as failed:  # an unforeseen library error must not end acquisition
            _log.error("source %s: acquisition failed; reconnecting", self.name, exc_info=failed)
            reason = f"acquisition failed: {failed.exceptions[0]!r}"
        return reason

    async def _watch(self, lost: asyncio.Event) -> None:
        await lost.wait()
        raise LinkLost(f"connection to {self._cfg.endpoint} lost")

    async def _discard(self, client: Client) -> None:
        """Close what is left of a session without ever waiting long on a dead peer."""
        try:
            await asyncio.wait_for(client.disconnect(), 1.0)
        except Exception:  # teardown of a broken link; the socket goes regardless
            client.disconnect_socket()

    # --- acquisition ------------------------------------------------------------------------

    def _queue_batch(self, batch: list[Sample]) -> None:
        for sample in batch:
            self._queue(sample)

    def _queue(self, sample: Sample) -> None:
        """Collect samples and hand them over as one batch once the current burst is drained."""
        self._pending.append(sample)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._pending:
            batch, self._pending = self._pending, []
            self._emit(batch)

    async def _subscribe(self, client: Client, period_s: float, tags: list[TagConfig]) -> None:
        """One subscription per scan period, consumed in iterator mode (ordered, bounded); it publishes
        `publishes_per_scan` times a scan, so live values are not held back a whole scan in the server."""
        sub = await client.create_subscription(
            period_s * 1000.0 / self._cfg.publishes_per_scan,
            handler=None,
            queue_maxsize=max(1000, 4 * len(tags)),
            overflow=OverflowPolicy.DROP_OLDEST,
        )
        by_handle: dict[int, str] = {}
        try:
            for start in range(0, len(tags), CHUNK):
                chunk = tags[start : start + CHUNK]
                requests = []
                for offset, tag in enumerate(chunk):
                    handle = start + offset + 1
                    by_handle[handle] = tag.name
                    requests.append(_item_request(self._node_id(tag), tag, handle, period_s))
                results = await sub.create_monitored_items(requests)
                for tag, result in zip(chunk, results, strict=True):
                    if isinstance(result, ua.StatusCode):
                        _, reason = map_status(result.value)
                        self._queue(
                            Sample(
                                tag.name,
                                utcnow(),
                                math.nan,
                                Quality.BAD_CONFIG_ERROR,
                                f"server refused to monitor {opcua_address(tag).node_id}: {reason}",
                            )
                        )
            self._health.good_read()
            async for event in sub:
                if isinstance(event, DataChangeEvent):
                    ch = event.data.subscription_data.client_handle
                    name = by_handle.get(ch) if ch is not None else None
                    if name is not None:
                        value = event.data.monitored_item.Value
                        self._queue(range_checked(self._tags[name], sample_from(name, value, self._cfg.timestamp)))
                        self._health.last_good_read = utcnow()
                elif isinstance(event, StatusChangeEvent):
                    code = event.notification.Status.value
                    if code & 0x80000000:
                        raise LinkLost(f"subscription ended: {status_name(code)}")
        finally:
            if client.uaclient.state.value == "connected":
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(sub.delete(), 1.0)

    async def _poll(self, client: Client, tags: list[TagConfig]) -> None:
        """Batch Read of the tags due on this period; report by exception when a deadband is set."""
        for start in range(0, len(tags), CHUNK):
            chunk = tags[start : start + CHUNK]
            node_ids = [ua.NodeId.from_string(self._node_id(t)) for t in chunk]
            sent = time.monotonic()
            try:
                values = await asyncio.wait_for(read_values(client, node_ids), self._cfg.connect_timeout_s)
            except TimeoutError:
                self._health.timed_out()
                self._poll_failed(chunk, f"no answer to a Read within {self._cfg.connect_timeout_s:g} s")
                continue
            except UaStatusCodeError as exc:  # the whole Read refused, e.g. BadTooManyOperations
                self._health.answered(time.monotonic() - sent)
                self._health.refused(status_name(exc.code))
                self._poll_failed(chunk, f"Read refused: {map_status(exc.code)[1]}")
                continue
            self._health.answered(time.monotonic() - sent)
            for tag, dv in zip(chunk, values, strict=True):
                self._report_polled(tag, range_checked(tag, sample_from(tag.name, dv, self._cfg.timestamp)))
            self._health.good_read(_read_key(chunk))

    def _report_polled(self, tag: TagConfig, sample: Sample) -> None:
        last = self._last_polled.get(tag.name)
        if last is not None and last[1] == sample.quality:
            if sample.quality.is_bad and last[2] == sample.reason:
                return  # a persisting fault is said once
            if tag.deadband > 0 and abs(sample.value - last[0]) <= tag.deadband:
                return
        self._last_polled[tag.name] = (sample.value, sample.quality, sample.reason)
        self._queue(sample)

    def _poll_failed(self, tags: list[TagConfig], reason: str) -> None:
        """A failed Read turns exactly its tags Bad; the link itself is judged by the watchdog."""
        self._health.error(reason, read=_read_key(tags))
        now = utcnow()
        for tag in tags:
            self._report_polled(tag, Sample(tag.name, now, math.nan, Quality.BAD_COMM_FAILURE, reason))

    # --- writes -----------------------------------------------------------------------------

    async def write(self, tag: str, value: float) -> WriteOutcome:
        cfg = self._tags.get(tag)
        refused = refuse_locally(cfg, tag, value)
        if refused is not None:
            return WriteOutcome.policy(refused)
        assert cfg is not None
        session = self._session_of[tag]
        client = session.client
        if client is None:
            return WriteOutcome.link_down(f"source {self.name} is not connected")
        # asyncua may hold a request up to 60 s while reconnecting: the supervisor bounds it.
        bound = self._cfg.connect_timeout_s

        async def attempt(progress: WriteProgress) -> WriteOutcome:
            node = await self._send(client, cfg, value)
            progress.written = True
            return await self._read_back(cfg, node)

        def classify(exc: BaseException, progress: WriteProgress) -> WriteOutcome | None:
            if isinstance(exc, OSError | ConnectionError | TimeoutError | UaError):
                return self._write_failed(session, client, tag, exc, progress.written, bound)
            return None

        return await self._supervisor.write(attempt, classify, bound)

    def _write_failed(
        self, session: _Session, client: Client, tag: str, exc: BaseException, written: bool, bound: float
    ) -> WriteOutcome:
        """Map asyncua's failure onto an outcome: after the write it is unconfirmed, before it the error decides."""
        if written:
            return WriteOutcome.not_confirmed(f"written, but read-back failed: {exc!r}")
        link_up = session.client is client and client.uaclient.state is UaClientState.CONNECTED
        if isinstance(exc, UaStatusCodeError):
            name = status_name(exc.code)
            if name in _LINK_STATUSES:
                return WriteOutcome.link_down(f"link to {self._cfg.endpoint} lost writing {tag}: {name}")
            if name in _TIMEOUT_STATUSES:
                return WriteOutcome.timeout(f"no answer writing {tag}: {name}")
            return WriteOutcome.device(f"device refused: {map_status(exc.code)[1]}")
        if isinstance(exc, TimeoutError) and link_up:
            return WriteOutcome.timeout(f"no answer writing {tag} within {bound:g} s")
        return WriteOutcome.link_down(f"link to {self._cfg.endpoint} lost writing {tag}: {exc!r}")

    async def _send(self, client: Client, tag: TagConfig, value: float) -> Node:
        """Write the value as the node's own type; a Bad status on the write raises UaStatusCodeError."""
        node = client.get_node(self._node_id(tag))
        vtype = self._variant_types.get(tag.name)
        if vtype is None:
            vtype = await node.read_data_type_as_variant_type()
            self._variant_types[tag.name] = vtype
        # a bare DataValue: some PLC servers refuse writes that carry a SourceTimestamp
        await node.write_attribute(AttributeIds.Value, ua.DataValue(ua.Variant(_coerce(value, vtype), vtype)))
        return node

    async def _read_back(self, tag: TagConfig, node: Node) -> WriteOutcome:
        back = sample_from(tag.name, await node.read_data_value(raise_on_bad_status=False))
        if back.quality.is_bad:
            return WriteOutcome.not_confirmed(f"written, but read-back is bad: {back.reason}")
        return WriteOutcome.written(back.value)


def _item_request(node_id: str, tag: TagConfig, handle: int, period_s: float) -> ua.MonitoredItemCreateRequest:
    """MonitoredItemCreateRequest (Part 4 §5.12.2) with sampling interval, queue and deadband."""
    item = ua.ReadValueId()
    item.NodeId = ua.NodeId.from_string(node_id)
    item.AttributeId = AttributeIds.Value
    params = ua.MonitoringParameters()
    params.ClientHandle = handle
    params.SamplingInterval = period_s * 1000.0
    params.QueueSize = opcua_address(tag).queue_size
    params.DiscardOldest = True
    params.Filter = _deadband_filter(tag.deadband)
    request = ua.MonitoredItemCreateRequest()
    request.ItemToMonitor = item
    request.MonitoringMode = ua.MonitoringMode.Reporting
    request.RequestedParameters = params
    return request


def _by_period(tags: list[TagConfig]) -> dict[float, list[TagConfig]]:
    groups: dict[float, list[TagConfig]] = defaultdict(list)
    for tag in tags:
        groups[tag.scan_period_s].append(tag)
    return dict(sorted(groups.items()))


class _SessionLink:
    """One OPC UA session of a source, as its supervisor drives it."""

    def __init__(self, source: OpcUaSource, session: _Session) -> None:
        self._source = source
        self._session = session
        self.tags = [t.name for t in session.tags]

    async def connect(self) -> None:
        await self._source._open(self._session)

    def describe(self, exc: BaseException) -> str:
        return self._source._describe_failure(exc)

    async def run(self) -> str:
        client, lost = self._session.client, self._session.lost
        assert client is not None and lost is not None
        return await self._source._acquire(self._session, client, lost)

    async def close(self) -> None:
        await self._source._close(self._session)
