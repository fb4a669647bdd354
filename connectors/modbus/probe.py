"""`plantctl probe modbus`: read registers once and show every decoding, to pick the right one at a glance.

The commonest Modbus commissioning mistake is a wrong word order or data type (issue 17); a table of
every candidate decoding with the ones inside the tag's range marked settles it in one read.
`--scan` finds which addresses answer, bounded and rate-limited so a live PLC is not hammered.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from pymodbus.client import AsyncModbusTcpClient

from connectors.modbus.codec import CodecError, decode_exact, to_engineering
from connectors.modbus.config import ByteOrder, ModbusAddress, ModbusSourceConfig, ModbusTable, ModbusType
from connectors.rangecheck import judge
from plantctl.config.models import TagConfig

CANDIDATE_TYPES = (ModbusType.INT16, ModbusType.UINT16, ModbusType.INT32, ModbusType.UINT32,
                   ModbusType.FLOAT32, ModbusType.FLOAT64)
MAX_SCAN = 2000
"""At most this many addresses per scan: a scan is a commissioning aid, not a load test."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """One way to read the registers: its type, order, the value, and whether it fits the tag's range."""

    type: ModbusType
    order: ByteOrder
    value: float | None
    in_range: bool


def candidates(registers: list[int], tag: TagConfig | None = None) -> list[Candidate]:
    """Every candidate type × byte order the registers are long enough for, judged as the source would judge it."""
    out: list[Candidate] = []
    for kind in CANDIDATE_TYPES:
        if len(registers) < kind.registers:
            continue
        for order in ByteOrder:
            try:
                raw = float(decode_exact(kind, registers[: kind.registers], order))
            except CodecError:
                out.append(Candidate(kind, order, None, False))
                continue
            value = raw if tag is None else to_engineering(raw, tag.scaling, tag.range.low, tag.range.high)
            fits = tag is not None and math.isfinite(value) and judge(tag, value)[0].is_good
            out.append(Candidate(kind, order, value, fits))
    return out


def _split_host(target: str) -> tuple[str, int]:
    host, _, port = target.rpartition(":") if ":" in target else (target, "", "502")
    try:
        return host, int(port)
    except ValueError:
        raise typer.BadParameter(f"{target!r}: write HOST or HOST:PORT") from None


def _find_tag(config: Path, name: str) -> tuple[TagConfig, ModbusSourceConfig | None]:
    from connectors.registry import schemas
    from plantctl.config import ConfigError
    from plantctl.config.load import load_plant

    try:
        plant = load_plant(config, schemas())
    except ConfigError as exc:
        raise typer.BadParameter("the plant file has errors; run plantctl check-config " + str(config)) from exc
    tag = next((t for t in plant.tags if t.name == name), None)
    if tag is None:
        raise typer.BadParameter(f"no tag {name!r} in {config}")
    source = next((s for s in plant.sources if s.name == tag.source), None)
    return tag, source if isinstance(source, ModbusSourceConfig) else None


async def _read(host: str, port: int, unit: int, table: ModbusTable, address: int, count: int,
                timeout_s: float) -> list[int] | str:
    client = AsyncModbusTcpClient(host, port=port, timeout=timeout_s, retries=0, reconnect_delay=0)
    try:
        if not await client.connect():
            return f"cannot connect to {host}:{port}"
        reader = client.read_input_registers if table is ModbusTable.INPUT_REGISTER else client.read_holding_registers
        reply = await reader(address, count=count, device_id=unit)
        if reply.isError():
            return f"the device refused: Modbus exception {getattr(reply, 'exception_code', '?')}"
        return list(reply.registers)
    except Exception as exc:  # a probe reports whatever went wrong and ends
        return f"no answer from {host}:{port}: {exc or type(exc).__name__}"
    finally:
        client.close()


async def _scan(host: str, port: int, unit: int, table: ModbusTable, first: int, last: int, rate: float,
                timeout_s: float) -> tuple[list[int], str | None]:
    client = AsyncModbusTcpClient(host, port=port, timeout=timeout_s, retries=0, reconnect_delay=0)
    answered: list[int] = []
    try:
        if not await client.connect():
            return answered, f"cannot connect to {host}:{port}"
        reader = client.read_input_registers if table is ModbusTable.INPUT_REGISTER else client.read_holding_registers
        for address in range(first, last + 1):
            reply = await reader(address, count=1, device_id=unit)
            if not reply.isError():
                answered.append(address)
            await asyncio.sleep(1.0 / rate)
        return answered, None
    except Exception as exc:  # a scan reports what it found before the failure
        return answered, f"scan stopped: {exc or type(exc).__name__}"
    finally:
        client.close()


def _runs(addresses: list[int]) -> str:
    runs: list[str] = []
    for a in addresses:
        if runs and int(runs[-1].split("–")[-1]) == a - 1:
            runs[-1] = f"{runs[-1].split('–')[0]}–{a}"
        else:
            runs.append(str(a))
    return ", ".join(runs) or "none"


def probe_modbus_command(
    target: Annotated[str, typer.Argument(help="HOST or HOST:PORT of the device or gateway", show_default=False)],
    unit: Annotated[int, typer.Option("--unit", help="unit (slave) id")] = 1,
    table: Annotated[str, typer.Option("--table", help="input or holding")] = "holding",
    address: Annotated[int, typer.Option("--address", help="0-based protocol address (register 40001 is 0)")] = 0,
    count: Annotated[int, typer.Option("--count", help="registers to read (4 covers every type)")] = 4,
    tag: Annotated[str | None, typer.Option("--tag", help="mark decodings inside this tag's range")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="plant file holding --tag")] = None,
    scan: Annotated[str | None, typer.Option("--scan", help="FIRST-LAST: list which addresses answer")] = None,
    rate: Annotated[float, typer.Option("--rate", help="scan requests per second (at most 50)")] = 10.0,
    timeout_s: Annotated[float, typer.Option("--timeout", help="seconds to wait for an answer")] = 1.0,
) -> None:
    """Read Modbus registers once and print every decoding (type × byte order), or scan which addresses answer."""
    from plantctl.logs import quiet_libraries

    quiet_libraries()
    host, port = _split_host(target)
    try:
        kind = {"input": ModbusTable.INPUT_REGISTER, "holding": ModbusTable.HOLDING_REGISTER}[table]
    except KeyError:
        raise typer.BadParameter(f"--table is input or holding, not {table!r}") from None
    if scan is not None:
        first_s, _, last_s = scan.partition("-")
        try:
            first, last = int(first_s), int(last_s or first_s)
        except ValueError:
            raise typer.BadParameter(f"--scan FIRST-LAST, e.g. 0-199; not {scan!r}") from None
        if not 0 <= first <= last <= 65535 or last - first + 1 > MAX_SCAN:
            raise typer.BadParameter(f"--scan covers at most {MAX_SCAN} addresses within 0–65535")
        if not 0 < rate <= 50:
            raise typer.BadParameter("--rate is between 0 and 50 requests per second")
        found, error = asyncio.run(_scan(host, port, unit, kind, first, last, rate, timeout_s))
        typer.echo(f"{table} registers of unit {unit} at {host}:{port} answering in {first}–{last}: {_runs(found)}")
        if error:
            typer.echo(error, err=True)
            raise typer.Exit(1)
        return
    if not 1 <= count <= 125:
        raise typer.BadParameter("--count is 1..125")
    the_tag: TagConfig | None = None
    configured: tuple[ModbusType, ByteOrder] | None = None
    if tag is not None:
        if config is None:
            raise typer.BadParameter("--tag needs --config PLANT_FILE to know the tag's range")
        the_tag, source = _find_tag(config, tag)
        if isinstance(the_tag.address, ModbusAddress):
            order = the_tag.address.byte_order or (source.byte_order if source else ByteOrder.ABCD)
            configured = (the_tag.address.type, order)
    registers = asyncio.run(_read(host, port, unit, kind, address, count, timeout_s))
    if isinstance(registers, str):
        typer.echo(registers, err=True)
        raise typer.Exit(1)
    typer.echo(f"{table} registers {address}–{address + count - 1} of unit {unit} at {host}:{port}: "
               + " ".join(f"{r:04x}" for r in registers))
    if the_tag is not None:
        typer.echo(f"tag {the_tag.name}: range [{the_tag.range.low:g}, {the_tag.range.high:g}] {the_tag.unit}"
                   + (" (scaled)" if the_tag.scaling else ""))
    for c in candidates(registers, the_tag):
        mark = "  ✓ in range" if c.in_range else ""
        if configured == (c.type, c.order):
            mark += "  ← configured"
        shown = "—" if c.value is None else f"{c.value:.7g}"
        typer.echo(f"  {c.type.value:<8} {c.order.value}  {shown:>16}{mark}")
