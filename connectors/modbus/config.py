"""The Modbus protocol's part of the plant file: its `sources:` entry, its tags' `modbus:` address, its checks."""

from __future__ import annotations

from collections import defaultdict
from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from plantctl.config.models import SourceConfigBase, TagAddress, TagConfig
from plantctl.config.protocols import CheckedPlant, ProtocolSchema
from plantctl.config.yamlsrc import ConfigIssue


class ByteOrder(StrEnum):
    """Order of the bytes of a multi-register value, A being the most significant byte."""

    ABCD = "ABCD"  # big-endian, high word first
    DCBA = "DCBA"  # little-endian
    BADC = "BADC"  # bytes swapped within each word
    CDAB = "CDAB"  # words swapped (common on PLCs)


class ModbusSourceConfig(SourceConfigBase):
    """A Modbus TCP device or gateway (supervisor settings come from SourceConfigBase)."""

    kind: Literal["modbus"] = "modbus"
    host: str
    port: int = Field(default=502, ge=1, le=65535)
    unit_id: int = Field(default=1, ge=0, le=255)
    byte_order: ByteOrder = ByteOrder.ABCD
    timeout_s: float = Field(default=1.0, gt=0, le=60)
    max_read_registers: int = Field(default=125, ge=1, le=125)
    max_read_bits: int = Field(default=2000, ge=1, le=2000)
    gap_fill_registers: int = Field(
        default=10, ge=0, le=124, description="unused registers a read may span to save a request")


class ModbusTable(StrEnum):
    COIL = "coil"
    DISCRETE_INPUT = "discrete_input"
    INPUT_REGISTER = "input_register"
    HOLDING_REGISTER = "holding_register"


class ModbusType(StrEnum):
    BOOL = "bool"
    BIT = "bit"  # one bit of a 16-bit register
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    INT64 = "int64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"

    @property
    def registers(self) -> int:
        return _REGISTER_COUNT[self]


_REGISTER_COUNT = {
    ModbusType.BOOL: 1, ModbusType.BIT: 1, ModbusType.INT16: 1, ModbusType.UINT16: 1,
    ModbusType.INT32: 2, ModbusType.UINT32: 2, ModbusType.INT64: 4,
    ModbusType.FLOAT32: 2, ModbusType.FLOAT64: 4,
}


class ModbusAddress(TagAddress):
    """A tag's table, address and type on the device."""

    kind: ClassVar[str] = "modbus"

    table: ModbusTable
    address: int = Field(ge=0, le=65535, description="zero-based protocol address")
    type: ModbusType = ModbusType.FLOAT32
    bit: int | None = Field(default=None, ge=0, le=15)
    byte_order: ByteOrder | None = Field(default=None, description="overrides the device's")
    unit_id: int | None = Field(default=None, ge=0, le=255, description="overrides the device's")

    @model_validator(mode="after")
    def _shape(self) -> ModbusAddress:
        bit_table = self.table in (ModbusTable.COIL, ModbusTable.DISCRETE_INPUT)
        if bit_table and self.type is not ModbusType.BOOL:
            raise ValueError(f"a {self.table.value} holds one bit: type must be bool, not {self.type.value}")
        if not bit_table and self.type is ModbusType.BOOL:
            raise ValueError("type bool is for coils and discrete inputs; use type bit with bit: N in a register")
        if (self.type is ModbusType.BIT) != (self.bit is not None):
            raise ValueError("type bit needs bit: 0..15, and bit: is only for type bit")
        if self.address + self.type.registers - 1 > 65535:
            raise ValueError(f"{self.type.value} at {self.address} runs past register 65535")
        return self

    @property
    def span(self) -> range:
        return range(self.address, self.address + self.type.registers)


def _as_modbus(tag: TagConfig, src: SourceConfigBase) -> tuple[ModbusAddress, ModbusSourceConfig] | None:
    if isinstance(tag.address, ModbusAddress) and isinstance(src, ModbusSourceConfig):
        return tag.address, src
    return None


def check_read_only_tables(plant: CheckedPlant) -> list[ConfigIssue]:
    """Input registers and discrete inputs cannot be written (Modbus Application Protocol §4.3)."""
    issues: list[ConfigIssue] = []
    for tag, src in plant.tags_of_kind("modbus"):
        found = _as_modbus(tag, src)
        if found is not None and tag.writable and found[0].table in BIT_INPUTS_AND_INPUT_REGISTERS:
            issues.append(plant.issue(tag.name, ("writable",), f"a {found[0].table.value} is read-only in Modbus"))
    return issues


def check_overlaps(plant: CheckedPlant) -> list[ConfigIssue]:
    """Two tags may share a register only as distinct bits of it (Telegraf-style Init() check)."""
    issues: list[ConfigIssue] = []
    owners: dict[tuple[str, int, ModbusTable, int], list[tuple[str, int | None]]] = defaultdict(list)
    for tag, src in plant.tags_of_kind("modbus"):
        found = _as_modbus(tag, src)
        if found is None:
            continue
        addr, device = found
        unit = addr.unit_id if addr.unit_id is not None else device.unit_id
        bit = addr.bit if addr.type is ModbusType.BIT else None
        clash: str | None = None
        for reg in addr.span:
            key = (tag.source, unit, addr.table, reg)
            for other, other_bit in owners[key]:
                if bit is None or other_bit is None or bit == other_bit:
                    clash = other
            owners[key].append((tag.name, bit))
        if clash is not None:
            issues.append(plant.issue(
                tag.name, ("modbus", "address"),
                f"{addr.table.value} {addr.address} ({addr.type.value}) overlaps tag {clash!r} "
                f"on source {tag.source!r} unit {unit}"))
    return issues


BIT_INPUTS_AND_INPUT_REGISTERS = (ModbusTable.INPUT_REGISTER, ModbusTable.DISCRETE_INPUT)

SCHEMA = ProtocolSchema("modbus", ModbusSourceConfig, ModbusAddress, (check_read_only_tables, check_overlaps))
"""The Modbus part of the plant file, as the loader asks for it."""


def modbus_address(tag: TagConfig) -> ModbusAddress:
    """The tag's modbus address; the source keeps only tags that have one."""
    if not isinstance(tag.address, ModbusAddress):
        raise TypeError(f"tag {tag.name} has no modbus: address")
    return tag.address
