"""Request planner: the fewest reads the gap fill and per-request limits allow."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.modbus.config import ModbusTable
from connectors.modbus.planner import Limits, PlannedTag, coalesce, plan

IR = ModbusTable.INPUT_REGISTER


def tag(address: int, count: int = 2, period: float = 1.0, unit: int = 1, table: ModbusTable = IR) -> PlannedTag:
    return PlannedTag(f"T{unit}.{table.value}.{address}", unit, table, address, count, period)


def minimum_reads(spans: list[tuple[int, int]], max_count: int, gap_fill: int) -> int:
    """Independent answer by dynamic programming over the address-sorted tags.

    best[i] = fewest reads covering the first i tags; tags j..i-1 fit one read when the read
    from the first start to the last end is within max_count and no hole exceeds gap_fill.
    """
    spans = sorted(spans)
    best = [0] + [10**9] * len(spans)
    for i in range(1, len(spans) + 1):
        for j in range(i - 1, -1, -1):
            group = spans[j:i]
            start = group[0][0]
            end = max(a + c for a, c in group)
            reach = group[0][0] + group[0][1]
            ok = end - start <= max_count
            for a, c in group[1:]:
                ok = ok and a - reach <= gap_fill
                reach = max(reach, a + c)
            if not ok:
                break
            best[i] = min(best[i], best[j] + 1)
    return best[-1]


def test_scattered_float_map_by_hand() -> None:
    # float32 at 0, 2, 8, 10, 14, 16 (the example plant) with gap fill 10 → one read 0..17
    tags = [tag(a) for a in (0, 2, 8, 10, 14, 16)]
    reqs = coalesce(tags, 125, 10)
    assert [(r.address, r.count) for r in reqs] == [(0, 18)]
    # gap fill 3: the hole 4..7 (4 registers) splits it
    reqs = coalesce(tags, 125, 3)
    assert [(r.address, r.count) for r in reqs] == [(0, 4), (8, 10)]
    # gap fill 0: every hole splits → 0..3, 8..11, 14..17
    assert [(r.address, r.count) for r in coalesce(tags, 125, 0)] == [(0, 4), (8, 4), (14, 4)]


def test_device_limit_splits_a_contiguous_block() -> None:
    tags = [tag(a) for a in range(0, 400, 2)]  # 200 float32 back to back = 400 registers
    reqs = coalesce(tags, 125, 10)
    assert len(reqs) == 4  # ceil(400 / 124): a float32 may not straddle two reads
    assert all(r.count <= 125 for r in reqs)
    assert sum(len(r.tags) for r in reqs) == 200


def test_groups_by_period_unit_and_table() -> None:
    tags = [
        tag(0),
        tag(2),
        tag(4, period=5.0),
        tag(0, unit=3),
        tag(0, count=1, table=ModbusTable.COIL),
        tag(1, count=1, table=ModbusTable.COIL),
    ]
    groups = plan(tags, Limits())
    assert [g.scan_period_s for g in groups] == [1.0, 5.0]
    fast = groups[0].requests
    assert sorted((r.unit_id, r.table.value, r.address, r.count) for r in fast) == [
        (1, "coil", 0, 2),
        (1, "input_register", 0, 4),
        (3, "input_register", 0, 2),
    ]


def test_every_tag_lies_wholly_in_exactly_one_read() -> None:
    tags = [tag(a, c) for a, c in ((0, 4), (3, 1), (120, 2), (130, 4), (500, 1))]
    for req in coalesce(tags, 16, 5):
        for t in req.tags:
            assert req.address <= t.address and t.end <= req.address + req.count


def test_tag_larger_than_a_request_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="more than one request may read"):
        coalesce([tag(0, 4)], 2, 0)


@settings(max_examples=200, deadline=None)
@given(
    addresses=st.lists(st.integers(0, 2000), min_size=1, max_size=40, unique=True),
    kinds=st.lists(st.sampled_from([1, 2, 4]), min_size=40, max_size=40),
    max_count=st.integers(4, 125),
    gap_fill=st.integers(0, 30),
)
def test_plan_is_minimal_for_random_maps(addresses: list[int], kinds: list[int], max_count: int, gap_fill: int) -> None:
    # non-overlapping tags, as the config loader guarantees
    spans: list[tuple[int, int]] = []
    taken: set[int] = set()
    for a, c in zip(sorted(addresses), kinds, strict=False):
        cells = set(range(a, a + c))
        if cells & taken:
            continue
        taken |= cells
        spans.append((a, c))
    reqs = coalesce([tag(a, c) for a, c in spans], max_count, gap_fill)
    assert len(reqs) == minimum_reads(spans, max_count, gap_fill)
    assert sorted(t.address for r in reqs for t in r.tags) == sorted(a for a, _ in spans)
    assert all(r.count <= max_count for r in reqs)
