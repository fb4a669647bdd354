"""Precomputed Modbus read plan: tags grouped by scan period and coalesced into few requests.

Telegraf's modbus input "max_insert" optimisation: within one (scan period, unit id, table),
tags sorted by address are packed into one read while the read stays within the device's
per-request limit and no hole between neighbouring tags exceeds the gap fill. Packing greedily
from the lowest address is optimal for this covering problem (each greedy read reaches at least
as far as the corresponding read of any other valid plan). The plan is built once at start.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from connectors.modbus.config import ModbusTable

BIT_TABLES = (ModbusTable.COIL, ModbusTable.DISCRETE_INPUT)


@dataclass(frozen=True, slots=True)
class PlannedTag:
    """One tag's footprint: where it lies in the device, in registers (or bits for bit tables)."""

    name: str
    unit_id: int
    table: ModbusTable
    address: int
    count: int
    scan_period_s: float

    @property
    def end(self) -> int:
        return self.address + self.count


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """One Modbus read: `count` registers/bits from `address` of `table` on `unit_id`."""

    unit_id: int
    table: ModbusTable
    address: int
    count: int
    tags: tuple[PlannedTag, ...]

    @property
    def last(self) -> int:
        return self.address + self.count - 1


@dataclass(frozen=True, slots=True)
class PollGroup:
    """All reads due on one scan period."""

    scan_period_s: float
    requests: tuple[ReadRequest, ...]


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-device request limits (counts per request, and holes a read may span)."""

    max_registers: int = 125
    max_bits: int = 2000
    gap_fill_registers: int = 10
    gap_fill_bits: int = 160


def coalesce(tags: list[PlannedTag], max_count: int, gap_fill: int) -> list[ReadRequest]:
    """Pack tags of one unit and table into the fewest reads the limits allow."""
    requests: list[ReadRequest] = []
    ordered = sorted(tags, key=lambda t: (t.address, t.end))
    current: list[PlannedTag] = []
    start = end = 0
    for tag in ordered:
        if tag.count > max_count:
            raise ValueError(
                f"tag {tag.name} spans {tag.count} registers, more than one request may read ({max_count})"
            )
        fits = current and tag.address - end <= gap_fill and max(end, tag.end) - start <= max_count
        if fits:
            current.append(tag)
            end = max(end, tag.end)
            continue
        if current:
            requests.append(_request(current, start, end))
        current, start, end = [tag], tag.address, tag.end
    if current:
        requests.append(_request(current, start, end))
    return requests


def _request(tags: list[PlannedTag], start: int, end: int) -> ReadRequest:
    return ReadRequest(tags[0].unit_id, tags[0].table, start, end - start, tuple(tags))


def plan(tags: list[PlannedTag], limits: Limits) -> list[PollGroup]:
    """Group by scan period, then coalesce per (unit id, table); groups sorted by period."""
    buckets: dict[tuple[float, int, ModbusTable], list[PlannedTag]] = defaultdict(list)
    for tag in tags:
        buckets[(tag.scan_period_s, tag.unit_id, tag.table)].append(tag)
    by_period: dict[float, list[ReadRequest]] = defaultdict(list)
    for (period, _unit, table), members in sorted(buckets.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2].value)):
        bits = table in BIT_TABLES
        by_period[period].extend(
            coalesce(
                members,
                limits.max_bits if bits else limits.max_registers,
                limits.gap_fill_bits if bits else limits.gap_fill_registers,
            )
        )
    return [PollGroup(p, tuple(reqs)) for p, reqs in sorted(by_period.items())]
