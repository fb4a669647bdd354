"""Modbus TCP source: polls the precomputed plan on its periods; one serialised write path."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException

from connectors.base import Emit, SourceHealth, refuse_locally
from connectors.modbus.block import BlockDecoder
from connectors.modbus.codec import CodecError, decode, encode, to_engineering, to_raw
from connectors.modbus.config import (
    ByteOrder,
    ModbusAddress,
    ModbusSourceConfig,
    ModbusTable,
    ModbusType,
    modbus_address,
)
from connectors.modbus.planner import (
    BIT_TABLES,
    Limits,
    PlannedTag,
    PollGroup,
    ReadRequest,
    coalesce,
    plan,
)
from connectors.rangecheck import TINY_ABSOLUTE, TINY_SPANS, judge
from connectors.supervisor import Supervisor, WriteFn, WriteProgress
from connectors.timing import every
from plantctl.config.models import TagConfig
from plantctl.quality import Quality
from plantctl.samples import Sample, utcnow
from plantctl.writes import WriteOutcome

_log = logging.getLogger(__name__)

_NOTHING_YET = -1  # no value reported for the tag since (re)connecting
_GOOD = int(Quality.GOOD)
_NOT_FINITE = int(Quality.BAD_DEVICE_FAILURE)
_NOT_FINITE_REASON = "device sent a value that is not a finite number"

# Modbus Application Protocol V1.1b3 §7: exception codes.
EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}
_EXCEPTION_QUALITY = {
    1: Quality.BAD_CONFIG_ERROR,
    2: Quality.BAD_CONFIG_ERROR,
    3: Quality.BAD_CONFIG_ERROR,
    4: Quality.BAD_DEVICE_FAILURE,
}
TABLE_WORDS = {
    ModbusTable.COIL: "coils",
    ModbusTable.DISCRETE_INPUT: "discrete inputs",
    ModbusTable.HOLDING_REGISTER: "holding registers",
    ModbusTable.INPUT_REGISTER: "input registers",
}


class _SplitNeeded(Exception):
    """A coalesced read met an address the device lacks (exception 2): read it in pieces."""


def _split(req: ReadRequest, cfg: ModbusSourceConfig) -> list[ReadRequest]:
    """Contiguous runs without gap fill first; a run that still fails goes tag by tag."""
    limit = cfg.max_read_bits if req.table in BIT_TABLES else cfg.max_read_registers
    runs = coalesce(list(req.tags), limit, 0)
    if len(runs) > 1:
        return runs
    return [ReadRequest(t.unit_id, t.table, t.address, t.count, (t,)) for t in req.tags]


@dataclass(frozen=True, slots=True)
class _Fetched:
    """A read's reply, or the failure (timeout, library error) that came instead, and how long it took."""

    reply: Any
    failure: BaseException | None
    response_s: float


class LinkLost(Exception):
    """The TCP link to the device is gone; every tag turns Bad and the source reconnects."""


def _retrieved(task: asyncio.Task[_Fetched]) -> None:
    """A read ahead that nobody awaits any more: its failure is the scan's, already reported."""
    if not task.cancelled():
        task.exception()


def describe_exception(code: int) -> str:
    return f"Modbus exception {code} ({EXCEPTION_NAMES.get(code, 'unknown')})"


def span_text(table: ModbusTable, first: int, count: int, unit: int) -> str:
    return f"{TABLE_WORDS[table]} {first}–{first + count - 1} of unit {unit}"


def _on_the_wire(tag: TagConfig, config: ModbusSourceConfig) -> TagConfig:
    """The tag with its address as the protocol numbers it (a one_based source's register 1 is address 0)."""
    addr = modbus_address(tag)
    wire = config.protocol_address(addr.address)
    if wire == addr.address:
        return tag
    return tag.model_copy(update={"address": addr.model_copy(update={"address": wire})})


class ModbusSource:
    """One Modbus TCP connection (a PLC or a gateway with several unit ids) and its tags."""

    def __init__(self, config: ModbusSourceConfig, tags: list[TagConfig], emit: Emit) -> None:
        self._cfg = config
        self._emit = emit
        self._tags = {t.name: _on_the_wire(t, config) for t in tags if isinstance(t.address, ModbusAddress)}
        self._planned = [self._footprint(t) for t in self._tags.values()]
        self._groups: list[PollGroup] = plan(
            self._planned,
            Limits(
                max_registers=config.max_read_registers,
                max_bits=config.max_read_bits,
                gap_fill_registers=config.gap_fill_registers,
                gap_fill_bits=config.gap_fill_registers * 16,
            ),
        )
        self._supervisor = Supervisor(config, emit, _log)
        self._health = self._supervisor.health
        self._health.request_plan_size = sum(len(g.requests) for g in self._groups)
        self._client: AsyncModbusTcpClient | None = None
        # Last reported value, quality (-1: none yet) and non-Good reason of every tag, by tag index.
        self._index = {name: i for i, name in enumerate(self._tags)}
        self._last_value = np.full(len(self._tags), math.nan)
        self._last_quality = np.full(len(self._tags), _NOTHING_YET, dtype=np.int16)
        self._last_reason = [""] * len(self._tags)
        self._decoders: dict[int, tuple[ReadRequest, BlockDecoder, np.ndarray[Any, np.dtype[np.intp]], _Plausible]] = {}

    # --- lifecycle ----------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._cfg.name

    @property
    def groups(self) -> list[PollGroup]:
        """The request plan computed at construction (Telegraf Init() style)."""
        return self._groups

    @property
    def supervisor(self) -> Supervisor:
        """Connection, availability, heartbeat and the write path (route heartbeat_write here)."""
        return self._supervisor

    def route_heartbeat(self, write: WriteFn) -> None:
        self._supervisor.heartbeat_write = write

    async def start(self) -> None:
        self._supervisor.start([_ModbusLink(self)], self.write)

    async def stop(self) -> None:
        await self._supervisor.stop()
        if self._client is not None:
            self._client.close()
            self._client = None

    def health(self) -> SourceHealth:
        return self._supervisor.snapshot()

    # --- acquisition --------------------------------------------------------------------

    def _footprint(self, tag: TagConfig) -> PlannedTag:
        addr = modbus_address(tag)
        unit = addr.unit_id if addr.unit_id is not None else self._cfg.unit_id
        count = 1 if addr.table in BIT_TABLES else addr.type.registers
        return PlannedTag(tag.name, unit, addr.table, addr.address, count, tag.scan_period_s)

    def _new_client(self) -> AsyncModbusTcpClient:
        # reconnect_delay=0: pymodbus must not reconnect on its own; our loop owns the backoff.
        return AsyncModbusTcpClient(
            self._cfg.host,
            port=self._cfg.port,
            timeout=self._cfg.timeout_s,
            retries=0,
            reconnect_delay=0,
        )

    async def _connect(self) -> None:
        client = self._new_client()
        try:
            connected = await asyncio.wait_for(client.connect(), self._cfg.timeout_s + 1.0)
        except Exception:  # refused, unreachable, timed out, or a library error: the supervisor retries
            connected = False
        if not connected:
            client.close()
            raise ConnectionError(f"cannot connect to {self._cfg.host}:{self._cfg.port}")
        self._client = client

    async def _acquire(self) -> str:
        """Poll every group until the link fails; say why it failed."""
        client = self._client
        assert client is not None
        reason = "link lost"
        try:
            async with asyncio.TaskGroup() as group:
                for index in range(len(self._groups)):
                    group.create_task(self._poll_forever(client, index))
                group.create_task(self._watch_link(client))
        except* LinkLost as lost:
            reason = str(lost.exceptions[0])
        except* Exception as failed:  # an unforeseen library error must not end acquisition
            _log.error("source %s: acquisition failed; reconnecting", self.name, exc_info=failed)
            reason = f"acquisition failed: {failed.exceptions[0]!r}"
        return reason

    async def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()
        self._last_quality.fill(_NOTHING_YET)

    async def _watch_link(self, client: AsyncModbusTcpClient) -> None:
        """Notice a closed socket at once, even while a read is pending (pymodbus lets it time out)."""
        while client.connected:  # noqa: ASYNC110 - pymodbus offers no disconnect event
            await asyncio.sleep(0.1)
        raise LinkLost(f"connection to {self._cfg.host}:{self._cfg.port} closed by the device")

    async def _poll_forever(self, client: AsyncModbusTcpClient, index: int) -> None:
        """Poll one group on its fixed grid; one batch per scan."""

        async def scan() -> None:
            batch: list[Sample] = []
            kept: list[ReadRequest] = []
            requests = self._groups[index].requests
            # One request in flight (pymodbus serialises a connection's transactions), but the next one is sent
            # before this reply is decoded: the decode overlaps the device's turn instead of adding to it.
            ahead: asyncio.Task[_Fetched] | None = None
            try:
                for i, request in enumerate(requests):
                    fetched = await ahead if ahead is not None else await self._fetch(client, request)
                    ahead = None
                    if i + 1 < len(requests):
                        ahead = asyncio.ensure_future(self._fetch(client, requests[i + 1]))
                        await asyncio.sleep(0)  # let it send before this reply is decoded
                    batch.extend(await self._settle_adapting(client, request, fetched, kept))
            finally:
                if ahead is not None:  # the scan failed (link lost) or was cancelled: the read ahead goes with it
                    ahead.cancel()
                    ahead.add_done_callback(_retrieved)
            group = self._groups[index]
            if len(kept) != len(group.requests):
                self._groups[index] = PollGroup(group.scan_period_s, tuple(kept))
                self._health.request_plan_size = sum(len(g.requests) for g in self._groups)
            if batch:
                self._emit(batch)

        await every(self._groups[index].scan_period_s, scan)

    async def _read_adapting(
        self, client: AsyncModbusTcpClient, req: ReadRequest, kept: list[ReadRequest]
    ) -> list[Sample]:
        return await self._settle_adapting(client, req, await self._fetch(client, req), kept)

    async def _settle_adapting(
        self, client: AsyncModbusTcpClient, req: ReadRequest, fetched: _Fetched, kept: list[ReadRequest]
    ) -> list[Sample]:
        """Settle a read; if a coalesced read hit an address the device lacks, split it for good.

        Gap fill and coalescing assume the device answers for every address in the span; many
        PLCs answer exception 2 for holes in their map. Then the read is split (first into
        contiguous runs, then into single tags) so that only truly missing tags turn Bad.
        """
        try:
            samples = self._settle(req, fetched, split_on_illegal_address=len(req.tags) > 1)
        except _SplitNeeded as split:
            parts = _split(req, self._cfg)
            _log.warning("source %s: %s; reading it as %d smaller requests from now on", self.name, split, len(parts))
            samples = []
            for part in parts:
                samples.extend(await self._read_adapting(client, part, kept))
            return samples
        kept.append(req)
        return samples

    async def _fetch(self, client: AsyncModbusTcpClient, req: ReadRequest) -> _Fetched:
        """Send one read and wait for its reply (or the failure that stands for it); a lost link raises."""
        call = _READERS[req.table](client)
        sent = time.monotonic()
        try:
            # a deadline on this task, not asyncio.wait_for: that wraps every request in a task of its own,
            # which cost more than the whole block decode (issue 20)
            async with asyncio.timeout(self._cfg.timeout_s * 2 + 1.0):
                reply = await call(req.address, count=req.count, device_id=req.unit_id)
        except (TimeoutError, ModbusException, OSError) as exc:
            if not client.connected:
                raise LinkLost(f"connection to {self._cfg.host}:{self._cfg.port} lost ({exc})") from exc
            return _Fetched(None, exc, 0.0)
        return _Fetched(reply, None, time.monotonic() - sent)

    def _settle(self, req: ReadRequest, fetched: _Fetched, split_on_illegal_address: bool = False) -> list[Sample]:
        """The samples a fetched read gives: decoded values, or its tags Bad with the reason."""
        where = span_text(req.table, req.address, req.count, req.unit_id)
        reply = fetched.reply
        if reply is None:
            self._health.timed_out()
            return self._bad(req, Quality.BAD_COMM_FAILURE, f"no answer reading {where}: {fetched.failure}")
        self._health.answered(fetched.response_s)
        if reply.isError():
            code = int(getattr(reply, "exception_code", 0) or 0)
            self._health.refused(str(code))
            if code == 2 and split_on_illegal_address:
                raise _SplitNeeded(f"{describe_exception(code)} reading {where}")
            return self._bad(
                req,
                _EXCEPTION_QUALITY.get(code, Quality.BAD_COMM_FAILURE),
                f"{describe_exception(code)} reading {where}",
            )
        answered = getattr(reply, "function_code", None)
        if answered != _FUNCTION_CODES[req.table]:
            # Application Protocol V1.1b3 §6.1–6.4: the reply echoes the request's function code;
            # pymodbus hands back whatever decoded (an FC 4 reply to an FC 3 read reads as registers).
            return self._bad(
                req,
                Quality.BAD_COMM_FAILURE,
                f"malformed reply reading {where}: function code {answered} for {_FUNCTION_CODES[req.table]} asked",
            )
        try:
            samples = self._decode(req, reply)
        except (CodecError, IndexError, TypeError, ValueError) as exc:
            return self._bad(req, Quality.BAD_COMM_FAILURE, f"malformed reply reading {where}: {exc}")
        self._health.good_read(where)
        return samples

    def _decoder(self, req: ReadRequest) -> tuple[BlockDecoder, np.ndarray[Any, np.dtype[np.intp]], _Plausible]:
        """The block decoder of a planned read, built on its first reply (keyed by identity: hashing
        a request hashes every tag of it), with the bounds inside which a value needs no range judgement."""
        entry = self._decoders.get(id(req))
        if entry is None or entry[0] is not req:
            decoder = BlockDecoder(req, self._tags, self._cfg)
            index = np.array([self._index[name] for name in decoder.names], dtype=np.intp)
            entry = self._decoders[id(req)] = (req, decoder, index, _Plausible.of(
                [self._tags[name] for name in decoder.names], judged=not decoder.bit_table))
        return entry[1], entry[2], entry[3]

    def _decode(self, req: ReadRequest, reply: Any) -> list[Sample]:
        """Decode the whole reply at once; Sample objects only for the values reported.

        Report by exception when a tag has a deadband; every scan when its deadband is 0; always
        when the quality changes. One timestamp for the block (one reply, one instant).
        """
        now = utcnow()
        decoder, index, plausible = self._decoder(req)
        values = decoder.values(reply)
        finite = np.isfinite(values)
        suspects = plausible.suspects(values, finite).tolist()
        if not suspects and finite.all():
            return self._report_good(decoder, index, values, now)
        quality = np.where(finite, _GOOD, _NOT_FINITE).astype(np.int16)
        judged: dict[int, str] = {}  # slot -> reason, for the rare value outside its range (rangecheck.judge)
        for slot in suspects:
            q, why = judge(self._tags[decoder.names[slot]], float(values[slot]))
            quality[slot] = int(q)
            judged[slot] = why
        good = quality == _GOOD
        with np.errstate(invalid="ignore"):
            quiet = (
                (self._last_quality[index] == quality)
                & (decoder.deadband > 0)
                & (np.abs(values - self._last_value[index]) <= decoder.deadband)
            )
        reported = np.flatnonzero(~quiet)
        if reported.size == 0:
            return []
        tags = index[reported]
        self._last_value[tags] = values[reported]
        self._last_quality[tags] = quality[reported]
        names = decoder.names
        out: list[Sample] = []
        for slot, tag, value, is_good in zip(
            reported.tolist(), tags.tolist(), values[reported].tolist(), good[reported].tolist(), strict=True
        ):
            if is_good:
                self._last_reason[tag] = ""
                out.append(Sample(names[slot], now, value, Quality.GOOD, ""))
            elif slot in judged:
                self._last_reason[tag] = judged[slot]
                out.append(Sample(names[slot], now, value, Quality(int(quality[slot])), judged[slot]))
            else:
                self._last_reason[tag] = _NOT_FINITE_REASON
                out.append(Sample(names[slot], now, value, Quality.BAD_DEVICE_FAILURE, _NOT_FINITE_REASON))
        return out

    def _report_good(
        self, decoder: BlockDecoder, index: np.ndarray[Any, np.dtype[np.intp]], values: np.ndarray[Any, Any],
        now: datetime,
    ) -> list[Sample]:
        """The common case, every value of the block Good: fewer array steps and one comprehension (issue 20).
        (`_last_reason` is left as it was: it is read only while a tag's last quality is not Good.)"""
        names = decoder.names
        if decoder.any_deadband:
            with np.errstate(invalid="ignore"):
                quiet = (
                    (self._last_quality[index] == _GOOD)
                    & (decoder.deadband > 0)
                    & (np.abs(values - self._last_value[index]) <= decoder.deadband)
                )
            reported = np.flatnonzero(~quiet)
            if reported.size == 0:
                return []
            index, values = index[reported], values[reported]
            names = [names[slot] for slot in reported.tolist()]
        self._last_value[index] = values
        self._last_quality[index] = _GOOD
        good = Quality.GOOD
        return [Sample(name, now, value, good, "") for name, value in zip(names, values.tolist(), strict=True)]

    def _bad(self, req: ReadRequest, quality: Quality, reason: str) -> list[Sample]:
        """Exactly the tags of the failed request turn Bad; said again only when the reason changes."""
        self._health.error(reason, read=span_text(req.table, req.address, req.count, req.unit_id))
        now = utcnow()
        out: list[Sample] = []
        for pt in req.tags:
            i = self._index[pt.name]
            if self._last_quality[i] == quality and self._last_reason[i] == reason:
                continue
            self._last_value[i] = math.nan
            self._last_quality[i] = quality
            self._last_reason[i] = reason
            out.append(Sample(pt.name, now, math.nan, quality, reason))
        return out

    # --- writes -------------------------------------------------------------------------

    async def write(self, tag: str, value: float) -> WriteOutcome:
        cfg = self._tags.get(tag)
        refused = refuse_locally(cfg, tag, value)
        if refused is not None:
            return WriteOutcome.policy(refused)
        assert cfg is not None
        addr = modbus_address(cfg)
        if (addr.table is ModbusTable.COIL or addr.type is ModbusType.BIT) and value not in (0, 1):
            return WriteOutcome.policy(f"{tag} is a bit: write 0 or 1, not {value:g}")
        client = self._client
        if client is None or not client.connected:
            return WriteOutcome.link_down(f"source {self.name} is not connected")
        bound = self._cfg.timeout_s * 3 + 1.0

        async def attempt(progress: WriteProgress) -> WriteOutcome:
            refusal = await self._send(client, cfg, value)
            if refusal is not None:
                return refusal
            progress.written = True
            return await self._read_back(client, cfg)

        def classify(exc: BaseException, progress: WriteProgress) -> WriteOutcome | None:
            if isinstance(exc, CodecError):  # the value does not fit the register type: nothing was sent
                if progress.written:
                    return WriteOutcome.not_confirmed(f"written, but the read-back does not decode: {exc}")
                return WriteOutcome.policy(f"{tag}: {exc}")
            if isinstance(exc, TimeoutError | ModbusException | OSError):
                return self._write_failed(client, tag, exc, progress.written, bound)
            return None

        return await self._supervisor.write(attempt, classify, bound)

    def _write_failed(
        self, client: AsyncModbusTcpClient, tag: str, exc: BaseException, written: bool, bound: float
    ) -> WriteOutcome:
        """Map a library failure onto an outcome: after the write it is unconfirmed, before it the link decides."""
        what = str(exc) or (f"no answer within {bound:g} s" if isinstance(exc, TimeoutError) else type(exc).__name__)
        if written:
            return WriteOutcome.not_confirmed(f"written, but read-back failed: {what}")
        if isinstance(exc, ConnectionException | OSError) or not client.connected:
            return WriteOutcome.link_down(f"link to {self._cfg.host}:{self._cfg.port} lost writing {tag}: {what}")
        return WriteOutcome.timeout(f"no answer writing {tag}: {what}")

    async def _send(self, client: AsyncModbusTcpClient, tag: TagConfig, value: float) -> WriteOutcome | None:
        """Send the write; the device's refusal as an outcome, None once it has accepted."""
        addr = modbus_address(tag)
        unit = addr.unit_id if addr.unit_id is not None else self._cfg.unit_id
        order = addr.byte_order or self._cfg.byte_order
        table = addr.table
        count = 1 if table in BIT_TABLES else addr.type.registers
        where = span_text(table, addr.address, count, unit)
        if table is ModbusTable.COIL:
            reply = await client.write_coil(addr.address, bool(value), device_id=unit)
        elif addr.type is ModbusType.BIT:
            assert addr.bit is not None
            current = await client.read_holding_registers(addr.address, count=1, device_id=unit)
            if current.isError():
                return _refused(current, "reading before setting a bit in", where)
            word = current.registers[0]
            word = word | (1 << addr.bit) if value else word & ~(1 << addr.bit)
            reply = await client.write_register(addr.address, word, device_id=unit)
        else:
            raw = to_raw(value, tag.scaling, tag.range.low, tag.range.high)
            if addr.type not in (ModbusType.FLOAT32, ModbusType.FLOAT64):
                raw = float(round(raw))
            regs = encode(addr.type, raw, order)
            if len(regs) == 1:
                reply = await client.write_register(addr.address, regs[0], device_id=unit)
            else:
                reply = await client.write_registers(addr.address, regs, device_id=unit)
        if reply.isError():
            return _refused(reply, "writing", where)
        return None

    async def _read_back(self, client: AsyncModbusTcpClient, tag: TagConfig) -> WriteOutcome:
        """Read the written span again, so the operator sees what the device holds now."""
        addr = modbus_address(tag)
        unit = addr.unit_id if addr.unit_id is not None else self._cfg.unit_id
        order = addr.byte_order or self._cfg.byte_order
        table = addr.table
        count = 1 if table in BIT_TABLES else addr.type.registers
        back = await _READERS[table](client)(addr.address, count=count, device_id=unit)
        if back.isError():
            code = int(getattr(back, "exception_code", 0) or 0)
            return WriteOutcome.not_confirmed(f"written, but read-back failed: {describe_exception(code)}")
        if table is ModbusTable.COIL:
            read_back = float(bool(back.bits[0]))
        else:
            raw_back = decode(addr.type, list(back.registers[:count]), order, addr.bit)
            read_back = (
                raw_back
                if addr.type is ModbusType.BIT
                else to_engineering(raw_back, tag.scaling, tag.range.low, tag.range.high)
            )
        return WriteOutcome.written(read_back)


def _refused(reply: Any, doing: str, where: str) -> WriteOutcome:
    code = int(getattr(reply, "exception_code", 0) or 0)
    return WriteOutcome.device(f"device refused: {describe_exception(code)} {doing} {where}")


# Modbus Application Protocol V1.1b3 §6.1–6.4: the read function of each table.
_FUNCTION_CODES = {
    ModbusTable.COIL: 1,
    ModbusTable.DISCRETE_INPUT: 2,
    ModbusTable.HOLDING_REGISTER: 3,
    ModbusTable.INPUT_REGISTER: 4,
}

_Reader = Callable[..., Awaitable[Any]]
_READERS: dict[ModbusTable, Callable[[AsyncModbusTcpClient], _Reader]] = {
    ModbusTable.COIL: lambda c: c.read_coils,
    ModbusTable.DISCRETE_INPUT: lambda c: c.read_discrete_inputs,
    ModbusTable.HOLDING_REGISTER: lambda c: c.read_holding_registers,
    ModbusTable.INPUT_REGISTER: lambda c: c.read_input_registers,
}

__all__ = ["ByteOrder", "ModbusSource"]


class _ModbusLink:
    """The one TCP link of a Modbus source, as its supervisor drives it."""

    def __init__(self, source: ModbusSource) -> None:
        self._source = source
        self.tags = list(source._tags)

    async def connect(self) -> None:
        await self._source._connect()

    def describe(self, exc: BaseException) -> str:
        return str(exc)

    async def run(self) -> str:
        return await self._source._acquire()

    async def close(self) -> None:
        await self._source._disconnect()


class _Plausible:
    """Per tag of a block: the bounds (range plus margin) inside which a decoded value is Good without asking
    rangecheck.judge, and the magnitude below which a non-zero value is suspiciously tiny; judged per value
    only outside them, so a correct decoding costs two array comparisons."""

    __slots__ = ("high", "low", "tiny")

    def __init__(self, low: np.ndarray[Any, Any], high: np.ndarray[Any, Any], tiny: np.ndarray[Any, Any]) -> None:
        self.low, self.high, self.tiny = low, high, tiny

    @classmethod
    def of(cls, tags: list[TagConfig], *, judged: bool) -> _Plausible:
        if not judged:  # coils and discrete inputs: a bit is never out of range
            n = len(tags)
            return cls(np.full(n, -np.inf), np.full(n, np.inf), np.zeros(n))
        span = np.array([t.range.high - t.range.low for t in tags])
        margin = span * np.array([t.range_margin_pct for t in tags]) / 100.0
        bit = np.array([modbus_address(t).type is ModbusType.BIT for t in tags])
        low = np.where(bit, -np.inf, np.array([t.range.low for t in tags]) - margin)
        high = np.where(bit, np.inf, np.array([t.range.high for t in tags]) + margin)
        tiny = np.where(bit, 0.0, np.minimum(TINY_SPANS * span, TINY_ABSOLUTE))
        return cls(low, high, tiny)

    def suspects(self, values: np.ndarray[Any, Any], finite: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """Slots of finite values outside their bounds or non-zero and tiny."""
        with np.errstate(invalid="ignore"):
            out = (values < self.low) | (values > self.high) | ((values != 0) & (np.abs(values) < self.tiny))
        return np.flatnonzero(out & finite)
